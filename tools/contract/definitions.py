"""RabbitMQ definitions of the park (``make definitions`` → ``deploy/rabbitmq/definitions.json``).

Made from the one topology definition — :func:`~shared.messaging.topology.park_topology`
(exchanges, queues with their arguments, bindings, policies) and
:func:`~shared.messaging.identities.park_identities` (one user per service, per ingress
system and ``park-cli``, with least-privilege permissions) — so that importing it
(``rabbitmqctl import_definitions``, the management API, or ``load_definitions`` at boot)
gives a broker what ``park topology declare`` would. Firms' users and queues are not
here: they are provisioned when a firm registers (``park firms add|load``).

Passwords: the file carries the *development* password ``dev-<user>`` of each user as a
salted SHA-256 hash (RabbitMQ's ``rabbit_password_hashing_sha256``). The salt is derived
from the user name so the file is reproducible (and its staleness test meaningful); that
is acceptable only because these passwords are public anyway. Production changes every
password after the import (deploy/README.md).
"""

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

from shared.messaging.identities import dev_password, park_identities
from shared.messaging.topology import Topology, park_topology

OUTPUT = Path("deploy") / "rabbitmq" / "definitions.json"
VHOST = "/"
# The RabbitMQ the deploy files run (deploy/compose.yaml's image): its major version
# decides the policies (topology.policies: RabbitMQ 4's default delivery limit).
RABBITMQ_MAJOR = 4
HASHING = "rabbit_password_hashing_sha256"


def password_hash(user: str, password: str) -> str:
    """RabbitMQ's SHA-256 password hash: base64(salt + sha256(salt + password)), with a
    4-byte salt derived from ``user`` (reproducible; for development passwords only)."""
    salt = hashlib.sha256(f"park-dev-salt:{user}".encode()).digest()[:4]
    digest = hashlib.sha256(salt + password.encode("utf-8")).digest()
    return base64.b64encode(salt + digest).decode("ascii")


def build_definitions(
    topology: Topology | None = None, *, vhost: str = VHOST, broker_major: int = RABBITMQ_MAJOR
) -> dict[str, Any]:
    topology = topology or park_topology()
    identities = park_identities(topology)
    return {
        "vhosts": [{"name": vhost}],
        "users": [
            {
                "name": identity.user,
                "password_hash": password_hash(identity.user, dev_password(identity.user)),
                "hashing_algorithm": HASHING,
                "tags": [],
            }
            for identity in identities
        ],
        "permissions": [
            {
                "user": identity.user,
                "vhost": vhost,
                "configure": identity.permissions.configure,
                "write": identity.permissions.write,
                "read": identity.permissions.read,
            }
            for identity in identities
        ],
        "topic_permissions": [],
        "parameters": [],
        "policies": [
            {
                "vhost": vhost,
                "name": policy.name,
                "pattern": policy.pattern,
                "apply-to": policy.apply_to,
                "definition": policy.definition,
                "priority": policy.priority,
            }
            for policy in topology.policies(broker_major=broker_major)
        ],
        "queues": [
            {
                "name": queue.name,
                "vhost": vhost,
                "durable": True,
                "auto_delete": False,
                "arguments": queue.arguments,
            }
            for queue in topology.queues()
        ],
        "exchanges": [
            {
                "name": exchange.name,
                "vhost": vhost,
                "type": exchange.type,
                "durable": True,
                "auto_delete": False,
                "internal": False,
                "arguments": {},
            }
            for exchange in topology.exchanges()
        ],
        "bindings": [
            {
                "source": binding.exchange,
                "vhost": vhost,
                "destination": binding.queue,
                "destination_type": "queue",
                "routing_key": binding.routing_key,
                "arguments": {},
            }
            for binding in topology.bindings()
        ],
    }


def render(definitions: dict[str, Any]) -> str:
    return json.dumps(definitions, indent=2, ensure_ascii=False) + "\n"


ADMIN_OUTPUT = Path("deploy") / "rabbitmq" / "admin.json"
ADMIN = "park-admin"


def build_admin(*, vhost: str = VHOST) -> dict[str, Any]:
    """The administrator the declare step (and an operator) uses in development
    (deploy/compose.yaml): a broker that imports definitions at boot creates no default
    user, so without it no one could manage the broker. Development only: production
    creates its own administrator and does not load this file (deploy/README.md)."""
    return {
        "users": [
            {
                "name": ADMIN,
                "password_hash": password_hash(ADMIN, dev_password(ADMIN)),
                "hashing_algorithm": HASHING,
                "tags": ["administrator"],
            }
        ],
        "permissions": [
            {"user": ADMIN, "vhost": vhost, "configure": ".*", "write": ".*", "read": ".*"}
        ],
    }


def rendered() -> dict[Path, str]:
    return {OUTPUT: render(build_definitions()), ADMIN_OUTPUT: render(build_admin())}
