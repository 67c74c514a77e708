"""Broker identities (DESIGN §6 *Identities*): one RabbitMQ user per service, per ingress
system and for the operator CLI, each with least-privilege permissions on the vhost.

User names are the names themselves: the services (``onboarding``, ``ticketing``,
``billing``, ``buyback``), the ingress systems (``portal``, ``gov``, ``bank``, ``meters``)
and ``park-cli``. Firms (``firm-<firm_id>``) are provisioned when they are registered, not
here. Development passwords are ``dev-<name>`` unless configured (``BROKER_PASSWORDS``);
the production config has no default, and an empty password is refused.

The declare step provisions them (:func:`provision_identities`): users are global to the
broker and shared by every vhost, so creating one is idempotent (same name, same
password) and nothing here ever deletes one; permissions are set per vhost.

Permissions are RabbitMQ regular expressions over exchange and queue names:

* *configure* (declare, delete): nothing, except what nameko's RPC entrypoint declares
  itself at start (the ``nameko-rpc`` exchange and the service's ``rpc-<service>`` queue).
  The topology is the declare step's; consumers check it with passive declares, which
  need no permission.
* *write* (publish to an exchange; bind a queue): a service writes its own
  ``<service>.events``, its retry exchanges ``<service>.retry.<delay>s``, the default
  exchange (``amq.default``: dead letters go to ``<service>.dlq`` through it), nameko's
  RPC exchange (replies) and, for ticketing, ``ticketing.work``. An ingress system writes
  only its ``<system>.events``. The CLI writes any ``<source>.events`` (a test event or
  a manual correction), and not the default exchange (a replay publishes as the service).
* *read* (consume, ``basic.get``; bind from an exchange): a service reads its own queues
  (``<service>.…``) and its RPC queue; an ingress system reads nothing; the CLI reads the
  dead-letter queues and ``park.unrouted``.

Write on ``amq.default`` reaches every queue of the vhost by name (RabbitMQ cannot narrow
it): what a service puts there carries its own verified ``user_id``, and a consumer
believes a service on an ingress exchange, or on another service's exchange, only when it
is the consumer itself (:mod:`shared.messaging.senders`).
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote, urlparse, urlunparse

import structlog

from shared.messaging.management import ManagementClient
from shared.messaging.topology import (
    UNROUTED,
    WORK_EXCHANGE,
    Topology,
    events_exchange,
    firm_work_queue,
)

log = structlog.get_logger(__name__)

PARK_CLI = "park-cli"
FIRMS = "firms"  # firms.events: one user per firm, provisioned on registration
RPC_EXCHANGE = "nameko-rpc"  # nameko's default RPC exchange
DEFAULT_EXCHANGE = "amq.default"  # the name permissions give to the default exchange ""
NOTHING = "^$"


def dev_password(user: str) -> str:
    """The development password of a fixed-name user."""
    return f"dev-{user}"


@dataclass(frozen=True)
class Permissions:
    """RabbitMQ permission regexes of one user on one vhost."""

    configure: str
    write: str
    read: str


@dataclass(frozen=True)
class Identity:
    """A broker user the declare step provisions, and what it may do on the vhost."""

    user: str
    permissions: Permissions


def _one_of(*names: str) -> str:
    return "^(" + "|".join(names) + ")$"


def service_permissions(service: str, *, work_exchange: bool = False) -> Permissions:
    own = re.escape(service)
    rpc_queue = re.escape(f"rpc-{service}")
    rpc = re.escape(RPC_EXCHANGE)
    write = [
        rf"{own}\.events",
        rf"{own}\.retry\.[0-9]+s",
        re.escape(DEFAULT_EXCHANGE),
        rpc,
        rpc_queue,  # nameko binds its RPC queue: bind needs write on the queue
    ]
    if work_exchange:
        write.append(re.escape(WORK_EXCHANGE))
    return Permissions(
        configure=_one_of(rpc, rpc_queue),
        write=_one_of(*write),
        read=_one_of(rf"{own}\..+", rpc_queue, rpc),  # bind needs read on the exchange
    )


def ingress_permissions(system: str) -> Permissions:
    own_events = rf"{re.escape(system)}\.events"
    return Permissions(configure=NOTHING, write=_one_of(own_events), read=NOTHING)


def cli_permissions() -> Permissions:
    """``park-cli``: publishes a test event or a manual correction on any exchange
    ``<source>.events``; reads (lists, purges) the DLQs and ``park.unrouted``. Not the
    default exchange: a replay publishes as the service's own user, and ``amq.default``
    would let the CLI drop a letter or an event into any queue."""
    return Permissions(
        configure=NOTHING,
        write=_one_of(r"[a-z0-9_-]+\.events"),
        read=_one_of(r"[a-z0-9_-]+\.dlq", re.escape(UNROUTED)),
    )


def firm_permissions(firm_id: str) -> Permissions:
    """A resident firm's user ``firm-<firm_id>`` (provisioned by ticketing when the firm is
    registered, ``services/ticketing/provisioning.py``): it reads only its own work queue
    ``firm.<firm_id>.work``, writes only ``firms.events`` (its reports, with its own
    ``user_id``) and declares nothing."""
    return Permissions(
        configure=NOTHING,
        write=_one_of(re.escape(events_exchange(FIRMS))),
        read=_one_of(re.escape(firm_work_queue(firm_id))),
    )


def park_identities(topology: Topology) -> list[Identity]:
    """Every fixed-name identity of a topology: its services, its ingress systems (not
    the firms, one user each) and the operator CLI."""
    found = [
        Identity(service, service_permissions(service, work_exchange=service == "ticketing"))
        for service in topology.services
    ]
    found += [
        Identity(system, ingress_permissions(system))
        for system in topology.sources
        if system != FIRMS and system not in topology.services
    ]
    found.append(Identity(PARK_CLI, cli_permissions()))
    return found


class MissingPassword(ValueError):
    """A broker user has no password configured (production sets each one explicitly)."""


def password_for(user: str, passwords: Mapping[str, str] | None) -> str:
    """The configured password of ``user``; ``dev-<user>`` when nothing is configured at
    all (tests, the benchmark). A configured but empty one is an error, not a default."""
    if passwords is None:
        return dev_password(user)
    password = passwords.get(user)
    if not password:
        raise MissingPassword(
            f"no broker password for {user!r}: set BROKER_PASSWORDS.{user} in the config "
            f"(its environment variable, e.g. {user.upper().replace('-', '_')}_BROKER_PASSWORD)"
        )
    return str(password)


def provision_identities(
    topology: Topology,
    management: ManagementClient,
    vhost: str,
    passwords: Mapping[str, str] | None = None,
) -> list[Identity]:
    """Create (or update) every identity's user and set its permissions on ``vhost``."""
    identities = park_identities(topology)
    for identity in identities:
        # Resolve every password before touching the broker: all or nothing.
        password_for(identity.user, passwords)
    for identity in identities:
        management.put_user(identity.user, password_for(identity.user, passwords))
        granted = identity.permissions
        management.set_permissions(
            vhost, identity.user, granted.configure, granted.write, granted.read
        )
    log.info("broker identities provisioned", vhost=vhost, users=len(identities))
    return identities


def amqp_uri_as(amqp_uri: str, user: str, password: str) -> str:
    """The same broker and vhost as ``amqp_uri``, connecting as ``user``."""
    parts = urlparse(amqp_uri)
    host = parts.hostname or "localhost"
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{host}"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunparse(parts._replace(netloc=netloc))
