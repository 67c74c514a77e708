"""A resident firm's broker identity (issue 9; DESIGN §6 *Identities*), provisioned when
the firm is registered and revoked when it is disabled.

A firm ``<firm_id>`` gets, on the park's vhost:

* the durable queue ``firm.<firm_id>.work`` (:meth:`Topology.firm_work`: the park's queue
  type, **no delivery limit** — no work-queue policy pattern matches ``firm.…``, and
  the firm's own client acks only what it has stored), bound to ``ticketing.work`` with
  routing key ``<firm_id>``, declared over AMQP as the declare step declares the rest;
* the broker user ``firm-<firm_id>`` (users are global to the broker), no tags, with
  :func:`~shared.messaging.identities.firm_permissions` on the vhost: read only its queue,
  write only ``firms.events``, configure nothing.

Order, so that nothing is lost and nothing is half-applied (:func:`add_firm`,
:func:`disable_firm`):

* **add**: queue and binding first, then user and permissions, then the database. Until
  the database says the firm is active nobody routes to it, so no work item is ever
  published to a queue that is not there (the relay publishes ``mandatory`` and would
  quarantine it). Every step is idempotent: a run that failed half-way is completed by
  running it again.
* **disable**: the database first (the firm is disabled, its open tickets are reassigned
  and their work items withdrawn through the outbox), then the broker. The user's
  permissions on this vhost are *cleared* (not the user deleted outright): users are
  global, and the same firm may still be active on another vhost of the broker; its open
  connections to this vhost are closed (a channel keeps permissions it already checked);
  and when it then holds no permission on any vhost, the user itself is deleted, so its
  password stops authenticating at all. Its queue is kept (with whatever is still in
  it): adding the firm again gives it back.

Passwords (:func:`firm_password`): ``FIRM_PASSWORDS`` maps firm id → password. A firm
not listed gets ``dev-<firm_id>`` only when ``FIRM_DEV_PASSWORDS`` is true (the
development configs) or when the config has neither key (tests); the production config
sets ``FIRM_PASSWORDS`` only, so a firm without a password there is refused, and an
empty password is never a default.

Each step reports what it changed; nothing changed is reported as such (``park firms
load`` run twice says so the second time). Whether the password changed is read from
the user's stored salted hash (RabbitMQ's ``rabbit_password_hashing_sha256`` / ``sha512``)
without storing or re-setting the password.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import amqp
import structlog

from services.ticketing.domain.firm_directory import Firm, FirmId
from shared.messaging.amqp_client import BrokerAddress
from shared.messaging.errors import TopologyMissing
from shared.messaging.identities import MissingPassword, Permissions, firm_permissions
from shared.messaging.management import ManagementClient
from shared.messaging.topology import WORK_EXCHANGE, Topology

log = structlog.get_logger(__name__)

FIRM_PASSWORDS = "FIRM_PASSWORDS"
FIRM_DEV_PASSWORDS = "FIRM_DEV_PASSWORDS"
_HASHES = {
    "rabbit_password_hashing_sha256": hashlib.sha256,
    "rabbit_password_hashing_sha512": hashlib.sha512,
}


def firm_dev_password(firm_id: FirmId | str) -> str:
    """A firm's development password: ``dev-<firm_id>``."""
    return f"dev-{firm_id}"


def firm_password(firm_id: FirmId, config: Mapping[str, Any]) -> str:
    """The broker password of firm ``firm_id`` under ``config`` (see the module's doc)."""
    if FIRM_PASSWORDS not in config and FIRM_DEV_PASSWORDS not in config:
        return firm_dev_password(firm_id)  # nothing configured at all: tests
    passwords = config.get(FIRM_PASSWORDS)  # None: the variable is unset
    dev_default = config.get(FIRM_DEV_PASSWORDS)
    if passwords is not None and not isinstance(passwords, Mapping):
        raise ValueError(f"{FIRM_PASSWORDS} must map firm ids to passwords")
    if passwords and str(firm_id) in passwords:
        password = passwords[str(firm_id)]
        if password is None or password == "":
            raise MissingPassword(f"{FIRM_PASSWORDS}.{firm_id} is empty: set a password")
        if isinstance(password, bool) or not isinstance(password, str | int):
            raise MissingPassword(f"{FIRM_PASSWORDS}.{firm_id} is not a text: quote it")
        return str(password)
    if dev_default is True:
        return firm_dev_password(firm_id)
    raise MissingPassword(
        f"no broker password for firm {firm_id}: set {FIRM_PASSWORDS}.{firm_id} in the "
        f"config (production: FIRM_PASSWORDS='{{{firm_id}: <password>, …}}')"
    )


def password_matches(user: Mapping[str, Any], password: str) -> bool:
    """Whether ``password`` is the one a management-API user record was set with (its
    ``password_hash`` is base64 of a 4-byte salt and the hash of salt + password)."""
    hasher = _HASHES.get(str(user.get("hashing_algorithm")))
    stored = user.get("password_hash")
    if hasher is None or not isinstance(stored, str | bytes) or not stored:
        return False  # unknown scheme or no hash: set it again rather than guess
    try:
        raw = base64.b64decode(stored, validate=True)
    except ValueError:
        return False
    salt, digest = raw[:4], raw[4:]
    return hasher(salt + password.encode("utf-8")).digest() == digest


@dataclass(frozen=True)
class BrokerState:
    """What the broker holds of one firm's identity on the vhost."""

    queue: bool
    bound: bool
    user: bool
    permissions: bool  # exactly the firm's permissions on this vhost

    @property
    def complete(self) -> bool:
        return self.queue and self.bound and self.user and self.permissions

    def describe(self) -> str:
        if self.complete:
            return "ok"
        if not (self.user or self.permissions):
            return "revoked" if self.queue else "absent"
        missing = [
            name for name in ("queue", "bound", "user", "permissions") if not getattr(self, name)
        ]
        return "incomplete: no " + ", no ".join(missing)


@dataclass
class FirmBroker:
    """Provisions and revokes firms' identities on one vhost (AMQP + management API)."""

    topology: Topology
    address: BrokerAddress
    management: ManagementClient

    @classmethod
    def connect(cls, topology: Topology, amqp_uri: str, management_url: str | None = None):
        address = BrokerAddress.from_uri(amqp_uri)
        return cls(topology, address, ManagementClient.for_broker(management_url, address))

    @property
    def vhost(self) -> str:
        return self.address.vhost

    def _bound(self, firm_id: FirmId) -> bool:
        bindings = self.management.bindings_between(self.vhost, WORK_EXCHANGE, firm_id.work_queue)
        return any(b.get("routing_key") == firm_id.routing_key for b in bindings)

    def _has_permissions(self, firm_id: FirmId) -> bool:
        current = self.management.permissions(self.vhost, firm_id.broker_user)
        return current is not None and _same(current, firm_permissions(str(firm_id)))

    def state(self, firm_id: FirmId) -> BrokerState:
        return BrokerState(
            queue=self.management.queue_or_none(self.vhost, firm_id.work_queue) is not None,
            bound=self._bound(firm_id),
            user=self.management.get_user(firm_id.broker_user) is not None,
            permissions=self._has_permissions(firm_id),
        )

    def declare_work_queue(self, firm_id: FirmId) -> list[str]:
        """The firm's queue and its binding to ``ticketing.work`` (idempotent)."""
        queue, binding = self.topology.firm_work(str(firm_id))
        changes = []
        if self.management.queue_or_none(self.vhost, queue.name) is None:
            changes.append(f"queue {queue.name} declared")
        if not self._bound(firm_id):
            changes.append(f"{queue.name} bound to {WORK_EXCHANGE} [{binding.routing_key}]")
        connection = self.address.connect()
        try:
            channel = connection.channel()
            channel.queue_declare(
                queue.name, durable=True, auto_delete=False, arguments=queue.arguments
            )
            try:
                channel.queue_bind(binding.queue, binding.exchange, binding.routing_key)
            except amqp.exceptions.NotFound:
                raise TopologyMissing(
                    f"exchange {WORK_EXCHANGE} is not declared on vhost {self.vhost!r}: "
                    "run park topology declare first"
                ) from None
        finally:
            connection.collect()  # close() would hang on a channel the broker closed
        return changes

    def grant(self, firm_id: FirmId, password: str) -> list[str]:
        """The firm's user with ``password`` and no tags, and its permissions here."""
        if not password:
            raise MissingPassword(f"empty broker password for firm {firm_id}")
        user = firm_id.broker_user
        changes = []
        existing = self.management.get_user(user)
        if existing is None:
            changes.append(f"user {user} created")
        elif not password_matches(existing, password):
            changes.append(f"user {user}: password changed")
        elif existing.get("tags"):
            changes.append(f"user {user}: tags removed")
        if changes:
            self.management.put_user(user, password)
        if not self._has_permissions(firm_id):
            wanted = firm_permissions(str(firm_id))
            self.management.set_permissions(
                self.vhost, user, wanted.configure, wanted.write, wanted.read
            )
            changes.append(f"permissions of {user} on vhost {self.vhost!r} set")
        return changes

    def provision(self, firm_id: FirmId, password: str) -> list[str]:
        """Queue and binding, then user and permissions; what changed (empty: nothing)."""
        changes = self.declare_work_queue(firm_id) + self.grant(firm_id, password)
        if changes:
            log.info("firm provisioned on the broker", firm_id=str(firm_id), changes=changes)
        return changes

    def revoke(self, firm_id: FirmId) -> list[str]:
        """Clear the firm's permissions on this vhost, close its connections here, and
        delete its user if it has no permission left anywhere; what changed."""
        user = firm_id.broker_user
        changes = []
        if self.management.permissions(self.vhost, user) is not None:
            self.management.clear_permissions(self.vhost, user)
            changes.append(f"permissions of {user} on vhost {self.vhost!r} cleared")
        open_here = [
            c for c in self.management.user_connections(user) if c.get("vhost") == self.vhost
        ]
        for connection in open_here:
            self.management.close_connection(connection["name"])
        if open_here:
            changes.append(f"{len(open_here)} open connection(s) of {user} closed")
        management = self.management
        if management.get_user(user) is not None and not management.user_permissions(user):
            management.delete_user(user)
            changes.append(f"user {user} deleted")
        if changes:
            log.info("firm revoked on the broker", firm_id=str(firm_id), changes=changes)
        return changes


def _same(current: Mapping[str, Any], wanted: Permissions) -> bool:
    return (current.get("configure"), current.get("write"), current.get("read")) == (
        wanted.configure,
        wanted.write,
        wanted.read,
    )


@dataclass(frozen=True)
class Applied:
    """What registering or disabling one firm changed, on the broker and in the database."""

    firm_id: FirmId
    broker: list[str] = field(default_factory=list)
    database: str | None = None  # what changed there; None: nothing

    @property
    def changed(self) -> bool:
        return bool(self.broker or self.database)

    def lines(self) -> list[str]:
        found = list(self.broker)
        if self.database:
            found.append(self.database)
        return found


def add_firm(
    firm: Firm,
    password: str,
    broker: FirmBroker,
    register: Callable[[Firm], str | None],
) -> Applied:
    """Provision ``firm`` on the broker, then ``register`` it in ticketing's database (the
    step that makes it routable). ``register`` returns what it changed, or None."""
    changes = broker.provision(firm.firm_id, password)
    return Applied(firm.firm_id, changes, register(firm))


def disable_firm(
    firm_id: FirmId,
    broker: FirmBroker,
    disable: Callable[[FirmId], str | None],
) -> Applied:
    """``disable`` the firm in the database (reassigning its open tickets), then revoke its
    broker identity. ``disable`` returns what it changed, or None."""
    database = disable(firm_id)
    return Applied(firm_id, broker.revoke(firm_id), database)
