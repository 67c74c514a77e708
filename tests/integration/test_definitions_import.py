"""deploy/rabbitmq/definitions.json, imported into a fresh vhost of the real broker, makes
what ``park topology declare`` makes in another: the same exchanges, queues (with their
arguments and policies), bindings, policies and permissions; and its users log in with
their development passwords.

Users are global to the broker, so the test imports them under run-unique names
(``bank-<run>``…) and deletes them afterwards: the fixed-name users other test runs share
are never touched by the import.
"""

import json
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import amqp
import pytest
import requests

from shared.messaging.declare import declare_topology
from shared.messaging.management import ManagementClient
from shared.messaging.topology import park_topology
from tools.contract import definitions

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
MANAGEMENT = f"http://{HOST}:15672"
ADMIN = ("guest", "guest")


@pytest.fixture
def broker():
    run = uuid.uuid4().hex[:10]
    world = {
        "run": run,
        "management": ManagementClient(MANAGEMENT, *ADMIN),
        "imported": f"park-defs-imported-{run}",
        "declared": f"park-defs-declared-{run}",
        "users": [],
    }
    yield world
    management = world["management"]
    for vhost in (world["imported"], world["declared"]):
        requests.delete(f"{MANAGEMENT}/api/vhosts/{quote(vhost, safe='')}", auth=ADMIN, timeout=30)
    for user in world["users"]:
        management.delete_user(user)


def _get(path: str):
    response = requests.get(f"{MANAGEMENT}/api/{path}", auth=ADMIN, timeout=30)
    response.raise_for_status()
    return response.json()


def _import(world) -> dict[str, str]:
    """Import the committed file into ``world["imported"]``, users renamed; returns the
    renamed user → original name."""
    document = json.loads((ROOT / definitions.OUTPUT).read_text("utf-8"))
    vhost, run = world["imported"], world["run"]
    broker_major = world["management"].broker_major()
    if broker_major < 4:
        # RabbitMQ 3 refuses delivery-limit -1 (and needs no such policy): leave out what
        # the topology gives RabbitMQ 4 only, as the declare step does on this broker.
        here = {p.name for p in park_topology().policies(broker_major=broker_major)}
        left_out = [p for p in document["policies"] if p["name"] not in here]
        assert all(p["definition"] == {"delivery-limit": -1} for p in left_out)
        document["policies"] = [p for p in document["policies"] if p["name"] in here]
    renamed = {user["name"]: f"{user['name']}-{run}" for user in document["users"]}
    world["users"] += list(renamed.values())
    document["vhosts"] = [{"name": vhost}]
    for user in document["users"]:
        user["name"] = renamed[user["name"]]
    for permission in document["permissions"]:
        permission["user"] = renamed[permission["user"]]
    for kind in ("permissions", "policies", "queues", "exchanges", "bindings"):
        for item in document[kind]:
            item["vhost"] = vhost
    response = requests.post(f"{MANAGEMENT}/api/definitions", json=document, auth=ADMIN, timeout=60)
    assert response.status_code in (200, 201, 204), response.text
    return {new: old for old, new in renamed.items()}


def _declare(world) -> None:
    vhost = world["declared"]
    management = world["management"]
    management.create_vhost(vhost)
    management.set_permissions(vhost, "guest", ".*", ".*", ".*")
    declare_topology(park_topology(), f"amqp://guest:guest@{HOST}:5672/{quote(vhost, safe='')}")


def _state(vhost: str, users: dict[str, str] | None = None) -> dict:
    v = quote(vhost, safe="")
    exchanges = {
        (e["name"], e["type"], e["durable"], e["auto_delete"], e["internal"], str(e["arguments"]))
        for e in _get(f"exchanges/{v}")
        if e["name"] and not e["name"].startswith("amq.")
    }
    queues = {
        q["name"]: (q["durable"], q["auto_delete"], q["arguments"]) for q in _get(f"queues/{v}")
    }
    bindings = {
        (b["source"], b["destination"], b["destination_type"], b["routing_key"])
        for b in _get(f"bindings/{v}")
        if b["source"]  # the default exchange's implicit bindings
    }
    policies = {
        p["name"]: (p["pattern"], p["apply-to"], p["definition"], p["priority"])
        for p in _get(f"policies/{v}")
    }
    users = users or {}
    permissions = {
        users.get(p["user"], p["user"]): (p["configure"], p["write"], p["read"])
        for p in _get(f"vhosts/{v}/permissions")
        if p["user"] != "guest"  # the test's own administrator on the declared vhost
    }
    return {
        "exchanges": exchanges,
        "queues": queues,
        "bindings": bindings,
        "policies": policies,
        "permissions": permissions,
    }


def test_the_imported_definitions_make_what_park_topology_declare_makes(broker):
    originals = _import(broker)
    _declare(broker)

    imported = _state(broker["imported"], originals)
    declared = _state(broker["declared"])

    topology = park_topology()
    assert len(declared["queues"]) == len(topology.queues())  # the comparison has substance
    assert set(declared["permissions"]) >= {"onboarding", "bank", "park-cli"}
    for kind in ("exchanges", "queues", "bindings", "policies", "permissions"):
        assert imported[kind] == declared[kind], kind
    applied = _applied_policies(broker["imported"])
    assert applied == _applied_policies(broker["declared"])
    assert applied["billing.bank.payment_received"] == "park-work-queues-billing"


def _applied_policies(vhost: str, timeout: float = 30.0) -> dict[str, str | None]:
    """Which policy each queue has, once the broker's statistics show one on every work
    queue (the management API reports it with the next stats emission, within seconds)."""
    work_queues = {s.queue for s in park_topology().subscriptions}
    deadline = time.monotonic() + timeout
    while True:
        applied = {q["name"]: q.get("policy") for q in _get(f"queues/{quote(vhost, safe='')}")}
        if all(applied.get(name) for name in work_queues) or time.monotonic() > deadline:
            return applied
        time.sleep(0.5)


def test_the_imported_users_log_in_with_their_development_passwords_only(broker):
    originals = _import(broker)
    renamed = {old: new for new, old in originals.items()}
    vhost = broker["imported"]

    def connects(user: str, password: str) -> bool:
        connection = amqp.Connection(
            host=f"{HOST}:5672", userid=user, password=password, virtual_host=vhost
        )
        try:
            connection.connect()
        except (amqp.exceptions.AccessRefused, amqp.exceptions.ConnectionForced):
            return False
        finally:
            connection.collect()
        return True

    assert connects(renamed["bank"], "dev-bank")
    assert connects(renamed["park-cli"], "dev-park-cli")
    assert not connects(renamed["bank"], "dev-gov")


def test_the_development_administrator_imports_and_manages_with_its_password(broker):
    document = json.loads((ROOT / definitions.ADMIN_OUTPUT).read_text("utf-8"))
    admin = f"{definitions.ADMIN}-{broker['run']}"
    broker["users"].append(admin)
    broker["management"].create_vhost(broker["imported"])
    [user] = document["users"]
    user["name"] = admin
    for permission in document["permissions"]:
        permission.update(user=admin, vhost=broker["imported"])
    response = requests.post(f"{MANAGEMENT}/api/definitions", json=document, auth=ADMIN, timeout=60)
    assert response.status_code in (200, 201, 204), response.text

    def whoami(password: str) -> requests.Response:
        return requests.get(f"{MANAGEMENT}/api/whoami", auth=(admin, password), timeout=30)

    me = whoami("dev-park-admin")
    assert me.status_code == 200, me.text
    assert "administrator" in str(me.json()["tags"])
    assert whoami("dev-park-cli").status_code == 401
