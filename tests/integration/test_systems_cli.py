"""``park systems add|list|disable`` (shared/tooling/systems_cli.py) on the real broker:
a system added may publish on its own ``<system>.events`` (the alternate exchange keeps
what nobody routes), cannot publish anywhere else nor read or declare anything, and
once disabled cannot connect. Broker users are global: the system names are unique to
the run and deleted at teardown."""

import re
import uuid
from dataclasses import replace
from pathlib import Path

import amqp
import nameko
import pytest
import yaml
from typer.testing import CliRunner

from shared.messaging.amqp_client import BrokerAddress, ConfirmingPublisher, OutgoingMessage
from shared.messaging.declare import declare_topology
from shared.messaging.errors import PublishFailed
from shared.messaging.identities import amqp_uri_as, ingress_permissions
from shared.messaging.management import ManagementClient
from shared.messaging.topology import PARK_SUBSCRIPTIONS, UNROUTED, build_topology
from shared.tooling.cli import app
from shared.tooling.systems_cli import SystemState
from tests.support.broker import get_messages, queue_depth, wait_for

runner = CliRunner()


class Systems:
    def __init__(self, amqp_uri: str, tmp_path: Path, *, declare: bool = True):
        self.amqp_uri = amqp_uri
        if declare:
            declare_topology(build_topology(PARK_SUBSCRIPTIONS, retry_delays=(1, 2)), amqp_uri)
        self.address = BrokerAddress.from_uri(amqp_uri)
        self.management = ManagementClient.for_broker(None, self.address)
        self.run = uuid.uuid4().hex[:8]
        self.made: list[str] = []
        self.config = tmp_path / "config.yaml"
        self.config.write_text(yaml.safe_dump({"AMQP_URI": amqp_uri, "LOG_LEVEL": "WARNING"}))

    def name(self, label: str) -> str:
        system = f"t{self.run}-{label}"
        self.made.append(system)
        return system

    def park(self, *args: str, **env):
        return runner.invoke(app, ["systems", *args, "--config", str(self.config)], env=env)

    def connect(self, system: str, password: str) -> amqp.Connection:
        return BrokerAddress.from_uri(amqp_uri_as(self.amqp_uri, system, password)).connect()

    def publish(self, system: str, password: str, exchange: str, routing_key: str = "x"):
        address = BrokerAddress.from_uri(amqp_uri_as(self.amqp_uri, system, password))
        publisher = ConfirmingPublisher(address, heartbeat=0)
        try:
            body = f'{{"probe": "{uuid.uuid4()}"}}'.encode()
            publisher.publish([OutgoingMessage(exchange, routing_key, body, {"user_id": system})])
            return body
        finally:
            publisher.close()

    def cleanup(self):
        for system in self.made:
            self.management._call_optional("DELETE", f"users/{system}")


@pytest.fixture
def systems(rabbit_config, tmp_path):
    world = Systems(nameko.config["AMQP_URI"], tmp_path)
    yield world
    world.cleanup()


def test_an_added_system_publishes_on_its_own_exchange_and_nothing_is_lost(systems):
    customs = systems.name("customs")

    result = systems.park("add", customs, "--password", "s3cret-customs")

    assert result.exit_code == 0, result.output
    assert f"exchange {customs}.events declared" in result.output
    assert f"user {customs} created" in result.output
    assert "s3cret-customs" not in result.output  # a given password is never echoed
    granted = systems.management.permissions(systems.address.vhost, customs)
    expected = ingress_permissions(customs)
    assert (granted["configure"], granted["write"], granted["read"]) == (
        expected.configure,
        expected.write,
        expected.read,
    )
    exchange = systems.management.exchange_or_none(systems.address.vhost, f"{customs}.events")
    assert exchange["type"] == "topic" and exchange["durable"]
    assert exchange["policy"] == "park-alternate-exchange"
    body = systems.publish(customs, "s3cret-customs", f"{customs}.events", "declaration_filed")
    # Nobody subscribes yet: the alternate exchange keeps it in park.unrouted.
    assert [m.body for m in get_messages(systems.amqp_uri, UNROUTED)] == [body]


def test_an_added_system_cannot_publish_elsewhere_nor_read_or_declare_anything(systems):
    customs = systems.name("customs")
    assert systems.park("add", customs, "--password", "pw-customs").exit_code == 0

    for exchange, routing_key in [
        ("portal.events", "application_submitted"),  # another system's exchange
        ("onboarding.events", "enterprise_admitted"),  # a service's
        ("", "onboarding.portal.application_submitted"),  # a work queue, by the default exchange
        ("ticketing.work", "any-firm"),
    ]:
        with pytest.raises(PublishFailed, match=r"ACCESS_REFUSED|access to exchange"):
            systems.publish(customs, "pw-customs", exchange, routing_key)
    for queue in (UNROUTED, "onboarding.portal.application_submitted", "billing.dlq"):
        connection = systems.connect(customs, "pw-customs")
        try:
            with pytest.raises(amqp.exceptions.AccessRefused):
                connection.channel().basic_get(queue)
        finally:
            connection.collect()
    connection = systems.connect(customs, "pw-customs")
    try:
        with pytest.raises(amqp.exceptions.AccessRefused):
            connection.channel().queue_declare(f"{customs}.mine", durable=True)
    finally:
        connection.collect()
    assert queue_depth(systems.amqp_uri, "onboarding.portal.application_submitted") == 0


def test_a_generated_password_is_shown_once_and_works(systems, tmp_path):
    meters2 = systems.name("meters2")

    result = systems.park("add", meters2)

    assert result.exit_code == 0, result.output
    [password] = re.findall(r"\(shown once, store it now\): (\S+)", result.output)
    assert len(password) >= 24
    systems.connect(meters2, password).collect()
    # Run again: the user is kept as it is, the password unchanged and not shown.
    again = systems.park("add", meters2)
    assert again.exit_code == 0, again.output
    assert "nothing to change" in again.output and "shown once" not in again.output
    systems.connect(meters2, password).collect()
    # --rotate, to a file: the old password stops working, the new one is in the file.
    secret_file = tmp_path / "meters2.password"
    rotated = systems.park("add", meters2, "--rotate", "--password-file", str(secret_file))
    assert rotated.exit_code == 0, rotated.output
    new_password = secret_file.read_text().strip()
    assert new_password not in rotated.output and oct(secret_file.stat().st_mode)[-3:] == "600"
    with pytest.raises(amqp.exceptions.AccessRefused):
        systems.connect(meters2, password)
    systems.connect(meters2, new_password).collect()


def test_list_shows_the_built_in_systems_and_the_added_ones(systems):
    customs = systems.name("customs")
    assert systems.park("add", customs, "--password", "pw").exit_code == 0

    result = systems.park("list")

    assert result.exit_code == 0, result.output
    rows = {line.split()[1]: line for line in result.output.splitlines() if "│" in line}
    for system in ("portal", "gov", "bank", "meters", customs):
        assert system in rows, result.output
        assert rows[system].rstrip(" │").endswith("ok"), rows[system]
    assert f"{customs}.events" in rows[customs]


def test_a_disabled_system_cannot_connect_and_its_open_connection_is_closed(systems):
    customs = systems.name("customs")
    assert systems.park("add", customs, "--password", "pw-customs").exit_code == 0
    held = systems.connect(customs, "pw-customs")
    wait_for(
        lambda: systems.management.user_connections(customs),
        message="the connection in the management API",
    )

    result = wait_for(lambda: _disabled_closing_connections(systems, customs), timeout=30)

    assert result.exit_code == 0, result.output
    assert f"permissions of {customs} on vhost" in result.output
    assert f"user {customs} deleted" in result.output
    with pytest.raises(amqp.exceptions.AccessRefused):
        systems.connect(customs, "pw-customs")
    with pytest.raises((OSError, amqp.exceptions.AMQPError)):
        held.channel().basic_publish(amqp.Message(b"{}"), f"{customs}.events", "x")
        held.drain_events(timeout=2)
    held.collect()
    assert systems.management.get_user(customs) is None
    # The exchange stays (with whatever it routed); disabling again changes nothing.
    assert systems.management.exchange_or_none(systems.address.vhost, f"{customs}.events")
    again = systems.park("disable", customs)
    assert again.exit_code == 0 and "nothing to change" in again.output


def _disabled_closing_connections(systems, customs):
    # The API closes a connection once its statistics are in (≈ 5 s): disable until it
    # reports the connection closed (clearing permissions again is a no-op).
    result = systems.park("disable", customs)
    return result if "open connection(s)" in result.output or result.exit_code else None


@pytest.mark.parametrize(
    "name", ["Customs", "cus.toms", "onboarding", "firms", "park-cli", "firm-x", "", "a" * 64]
)
def test_a_bad_or_reserved_name_is_refused_and_nothing_is_created(systems, name):
    vhost = systems.address.vhost
    before = systems.management.vhost_permissions(vhost)

    result = systems.park("add", name, "--password", "pw")

    assert result.exit_code == 1, result.output
    assert "error:" in result.output
    assert systems.management.vhost_permissions(vhost) == before
    if name in ("Customs", "cus.toms", "a" * 64):
        assert systems.management.exchange_or_none(vhost, f"{name}.events") is None


def test_a_user_with_tags_is_not_taken_over(systems):
    assert systems.park("add", "guest", "--password", "pw").exit_code == 1
    admin = systems.name("admin")
    systems.management.put_user(admin, "pw", tags="administrator")

    result = systems.park("add", admin, "--password", "other")

    assert result.exit_code == 1 and "tags" in result.output
    assert systems.management.get_user(admin)["tags"] in (["administrator"], "administrator")


def test_add_on_a_vhost_without_the_topology_is_refused(rabbit_config, tmp_path):
    bare = Systems(nameko.config["AMQP_URI"], tmp_path, declare=False)
    customs = bare.name("customs")
    try:
        result = bare.park("add", customs, "--password", "pw")

        assert result.exit_code == 1
        assert "park topology declare" in result.output
        assert bare.management.get_user(customs) is None
    finally:
        bare.cleanup()


@pytest.mark.parametrize(
    ("permissions", "exchange", "alternate", "status"),
    [
        (ingress_permissions("customs"), True, True, "ok"),
        (ingress_permissions("customs"), True, False, "no alternate exchange"),
        (ingress_permissions("customs"), False, False, "no exchange"),
        (ingress_permissions("portal"), True, True, "permissions differ"),
        (None, True, True, "disabled"),
        (None, False, False, "not provisioned"),
    ],
)
def test_a_systems_status_says_what_is_missing(permissions, exchange, alternate, status):
    state = SystemState("customs", True, permissions, exchange, alternate)

    assert state.status == status


# ---------------------------------------------------------------------------
# Users that are not this vhost's systems are never deleted, re-passworded or narrowed
# ---------------------------------------------------------------------------


@pytest.fixture
def other_vhost(systems):
    """A second vhost (users are global: what happens here must not break it there)."""
    vhost = f"t{systems.run}-other"
    systems.management.create_vhost(vhost)
    yield vhost
    systems.management.delete_vhost(vhost, missing_ok=True)


def _connect_to(systems, vhost: str, user: str, password: str) -> None:
    """Open and close a connection as ``user`` on ``vhost`` (AccessRefused if it cannot)."""
    replace(systems.address, user=user, password=password, vhost=vhost).connect().collect()


def _as_tuple(entry) -> tuple[str, str, str]:
    return (entry["configure"], entry["write"], entry["read"])


def _system_shape(user: str) -> tuple[str, str, str]:
    shape = ingress_permissions(user)
    return (shape.configure, shape.write, shape.read)


@pytest.mark.parametrize("shape", ["everything", "system"])
def test_disable_refuses_a_tagged_user_and_keeps_it(systems, shape):
    admin = systems.name("admin")
    vhost = systems.address.vhost
    systems.management.put_user(admin, "pw-admin", tags="administrator")
    granted = (".*", ".*", ".*") if shape == "everything" else _system_shape(admin)
    systems.management.set_permissions(vhost, admin, *granted)

    result = systems.park("disable", admin)

    assert result.exit_code == 1, result.output
    assert "error:" in result.output and "tags" in result.output
    assert systems.management.get_user(admin) is not None
    assert _as_tuple(systems.management.permissions(vhost, admin)) == granted
    _connect_to(systems, vhost, admin, "pw-admin")


@pytest.mark.parametrize("name", ["onboarding", "billing", "park-cli", "park-admin", "guest"])
def test_disable_refuses_a_reserved_user(systems, name):
    vhost = systems.address.vhost
    before = systems.management.vhost_permissions(vhost)
    existed = systems.management.get_user(name) is not None

    result = systems.park("disable", name)

    assert result.exit_code == 1, result.output
    assert "reserved" in result.output
    assert systems.management.vhost_permissions(vhost) == before
    assert (systems.management.get_user(name) is not None) == existed


def test_disable_refuses_a_firms_user(systems):
    firm = f"firm-t{systems.run}"
    systems.made.append(firm)
    vhost = systems.address.vhost
    systems.management.put_user(firm, "pw-firm")
    systems.management.set_permissions(vhost, firm, *_system_shape(firm))

    result = systems.park("disable", firm)

    assert result.exit_code == 1 and "reserved" in result.output, result.output
    assert systems.management.get_user(firm) is not None
    assert systems.management.permissions(vhost, firm) is not None


@pytest.mark.parametrize(
    "granted",
    [
        (".*", ".*", ".*"),
        (r"^$", r"^(portal\.events)$", r"^$"),  # another system's shape
        (r"^$", r"^(firms\.events)$", r"^(firm\.x\.work)$"),  # a firm's shape
        (r"^$", "SYSTEM", r"^(park\.unrouted)$"),  # its own write, but it also reads
    ],
)
def test_disable_refuses_a_user_whose_permissions_here_are_not_a_systems(systems, granted):
    other = systems.name("other")
    vhost = systems.address.vhost
    granted = tuple(g.replace("SYSTEM", _system_shape(other)[1]) for g in granted)
    systems.management.put_user(other, "pw-other")
    systems.management.set_permissions(vhost, other, *granted)

    result = systems.park("disable", other)

    assert result.exit_code == 1, result.output
    assert "not an ingress system's" in result.output
    assert systems.management.get_user(other) is not None
    assert _as_tuple(systems.management.permissions(vhost, other)) == granted
    _connect_to(systems, vhost, other, "pw-other")


def test_disable_keeps_a_user_that_holds_permissions_on_another_vhost(systems, other_vhost):
    customs = systems.name("customs")
    vhost = systems.address.vhost
    assert systems.park("add", customs, "--password", "pw-customs").exit_code == 0
    systems.management.set_permissions(other_vhost, customs, *_system_shape(customs))

    result = systems.park("disable", customs)

    assert result.exit_code == 0, result.output
    assert f"permissions of {customs} on vhost" in result.output
    assert f"user {customs} kept" in result.output and other_vhost in result.output
    assert f"user {customs} deleted" not in result.output
    assert systems.management.permissions(vhost, customs) is None
    assert systems.management.get_user(customs) is not None
    _connect_to(systems, other_vhost, customs, "pw-customs")
    with pytest.raises(amqp.exceptions.NotAllowed, match="access to vhost"):
        _connect_to(systems, vhost, customs, "pw-customs")


def test_disable_does_not_delete_a_user_with_no_permissions_here(systems):
    stray = systems.name("stray")
    systems.management.put_user(stray, "pw-stray")

    result = systems.park("disable", stray)

    assert result.exit_code == 0, result.output
    assert "nothing to change" in result.output
    assert systems.management.get_user(stray) is not None


@pytest.mark.parametrize("option", [["--password", "taken-over"], ["--rotate"]])
def test_add_does_not_change_the_password_of_another_vhosts_user(systems, other_vhost, option):
    customs = systems.name("customs")
    vhost = systems.address.vhost
    systems.management.put_user(customs, "pw-there")
    systems.management.set_permissions(other_vhost, customs, *_system_shape(customs))

    result = systems.park("add", customs, *option)

    assert result.exit_code == 1, result.output
    assert "error:" in result.output and other_vhost in result.output
    assert systems.management.permissions(vhost, customs) is None
    _connect_to(systems, other_vhost, customs, "pw-there")


@pytest.mark.parametrize("option", [["--password", "taken-over"], ["--rotate"], []])
def test_add_does_not_take_over_a_user_with_other_permissions_here(systems, option):
    other = systems.name("other")
    vhost = systems.address.vhost
    granted = (r"^$", r"^(firms\.events)$", r"^(firm\.x\.work)$")
    systems.management.put_user(other, "pw-other")
    systems.management.set_permissions(vhost, other, *granted)

    result = systems.park("add", other, *option)

    assert result.exit_code == 1, result.output
    assert "not an ingress system's" in result.output
    assert _as_tuple(systems.management.permissions(vhost, other)) == granted
    _connect_to(systems, vhost, other, "pw-other")


def test_add_password_on_this_vhosts_system_sets_its_new_password(systems):
    customs = systems.name("customs")
    vhost = systems.address.vhost
    assert systems.park("add", customs, "--password", "pw-old").exit_code == 0

    result = systems.park("add", customs, "--password", "pw-new")

    assert result.exit_code == 0, result.output
    assert f"user {customs} password set" in result.output
    _connect_to(systems, vhost, customs, "pw-new")
    with pytest.raises(amqp.exceptions.AccessRefused):
        _connect_to(systems, vhost, customs, "pw-old")


def test_add_without_a_password_grants_the_same_system_of_another_vhost_here(systems, other_vhost):
    customs = systems.name("customs")
    vhost = systems.address.vhost
    systems.management.put_user(customs, "pw-there")
    systems.management.set_permissions(other_vhost, customs, *_system_shape(customs))

    result = systems.park("add", customs)

    assert result.exit_code == 0, result.output
    assert "shown once" not in result.output and "password set" not in result.output
    assert _as_tuple(systems.management.permissions(vhost, customs)) == _system_shape(customs)
    _connect_to(systems, vhost, customs, "pw-there")
    _connect_to(systems, other_vhost, customs, "pw-there")


def test_add_refuses_a_user_that_is_something_else_on_another_vhost(systems, other_vhost):
    other = systems.name("other")
    vhost = systems.address.vhost
    systems.management.put_user(other, "pw-there")
    systems.management.set_permissions(other_vhost, other, ".*", ".*", ".*")

    result = systems.park("add", other)

    assert result.exit_code == 1, result.output
    assert "not an ingress system's" in result.output and other_vhost in result.output
    assert systems.management.permissions(vhost, other) is None
    assert _as_tuple(systems.management.permissions(other_vhost, other)) == (".*", ".*", ".*")


def test_a_new_password_for_a_system_that_also_publishes_elsewhere_says_so(systems, other_vhost):
    customs = systems.name("customs")
    assert systems.park("add", customs, "--password", "pw-old").exit_code == 0
    systems.management.set_permissions(other_vhost, customs, *_system_shape(customs))

    result = systems.park("add", customs, "--password", "pw-new")

    assert result.exit_code == 0, result.output
    assert "applies there too" in result.output and other_vhost in result.output
    _connect_to(systems, other_vhost, customs, "pw-new")


def test_a_new_password_for_a_system_that_is_something_else_elsewhere_is_refused(
    systems, other_vhost
):
    customs = systems.name("customs")
    vhost = systems.address.vhost
    assert systems.park("add", customs, "--password", "pw-old").exit_code == 0
    systems.management.set_permissions(other_vhost, customs, ".*", ".*", ".*")

    result = systems.park("add", customs, "--password", "pw-new")

    assert result.exit_code == 1, result.output
    assert "not an ingress system's" in result.output and other_vhost in result.output
    _connect_to(systems, vhost, customs, "pw-old")
    _connect_to(systems, other_vhost, customs, "pw-old")
