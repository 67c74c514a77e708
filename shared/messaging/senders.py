"""Who may publish on which exchange: the rule a consumer applies to the verified sender.

The broker vouches for the AMQP ``user_id`` (it refuses one that is not the connection's
user), and the consumer turns it into ``event.sender`` — the original publisher, also on
copies coming back from the service's own retry queue (``park-sender``). This module
decides whether that sender may have published the event's source.

Every service's user may write to the default exchange (``amq.default``: its dead letters
go there), and RabbitMQ cannot narrow which queue that reaches: any service can drop a
message straight into any work queue. So the rule names who may publish, per source:

* an ingress system's exchange (``portal``, ``gov``, ``bank``, ``meters``) takes events
  from that system's own user; from the consuming service itself (its own broker user:
  a replay with the service's credentials publishes as the service); and from the
  operator CLI ``park-cli`` (a manual correction, logged as such);
* a service's own exchange (``onboarding``, ``ticketing``, ``billing``, ``buyback``: the
  user of a service is its name) takes events from that service's user; from the
  consuming service itself; and from ``park-cli`` (a manual correction, logged);
* ``firms.events`` takes a report only from a firm's user, ``firm-<firm_id>`` (whether
  the ticket is that firm's is the handler's business);
* any other source (the test-only services and sources) has no rule here.

Anyone else — another service, another ingress system, a firm, ``guest`` (unless it is
the consumer's own user, as in the tests where one user plays every service), or no
``user_id`` at all — is refused: the message is malformed and dead-lettered at once with
``sender X may not publish on gov.events``. A letter refused for its sender is never
replayed (:mod:`shared.messaging.dead_letters`). A refusal on ``firms.events`` is also
logged as a ``security_event`` (``code=missing_sender``, ``sender``, ``source``): the
same shape as ticketing's own security refusals, which this check keeps it from seeing.

:func:`sender_refusal` is the pure rule; :func:`check_sender` is what the consumer calls.
"""

import re
from collections.abc import Collection

import structlog

from shared.messaging.errors import MalformedMessage
from shared.messaging.identities import FIRMS, PARK_CLI
from shared.messaging.topology import SERVICES, events_exchange

log = structlog.get_logger(__name__)

INGRESS_SYSTEMS = ("portal", "gov", "bank", "meters")
# A firm id as ticketing's firm directory accepts it (lower-case letters, digits, inner
# hyphens, at most 40): the broker user of firm <id> is firm-<id>.
FIRM_USER = re.compile(r"firm-[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?")
SENDER_REFUSAL = re.compile(r"sender .* may not publish on [a-z0-9_-]+\.events", re.DOTALL)


def _named(sender: str | None) -> str:
    if sender is None:
        return "(none: no user_id)"
    return repr(sender) if not sender.isprintable() or not sender else sender


def sender_refusal(
    source: str,
    sender: str | None,
    *,
    own_user: str | None = None,
    services: Collection[str] = SERVICES,
) -> str | None:
    """Why ``sender`` may not publish events of ``source``; None if it may.

    ``own_user`` is the consuming service's own broker user (the user of its
    ``AMQP_URI``), believed on every exchange but the firms'."""
    if source in INGRESS_SYSTEMS or source in services:
        if sender is not None and sender in (source, own_user, PARK_CLI):
            return None
    elif source == FIRMS:
        if sender is not None and FIRM_USER.fullmatch(sender):
            return None
    else:
        return None
    return f"sender {_named(sender)[:100]} may not publish on {events_exchange(source)}"


def is_sender_refusal(reason: object) -> bool:
    """Whether a dead letter's ``park-error`` is this rule's refusal."""
    return isinstance(reason, str) and SENDER_REFUSAL.fullmatch(reason) is not None


def check_sender(
    source: str,
    sender: str | None,
    *,
    own_user: str | None = None,
    services: Collection[str] = SERVICES,
) -> None:
    """Raise :class:`MalformedMessage` for a sender the rule refuses; log the operator's
    manual corrections (events ``park-cli`` published, accepted on a ruled exchange)."""
    refusal = sender_refusal(source, sender, own_user=own_user, services=services)
    if refusal:
        if source == FIRMS:
            # A report from anything but a firm's user: a security event, logged in the
            # shape ticketing's handler uses (which this refusal keeps it from reaching).
            log.warning(
                "security_event",
                security_event=True,
                code="missing_sender",
                message=refusal,
                sender=sender,
                source=source,
            )
        raise MalformedMessage(refusal)
    ruled = source in INGRESS_SYSTEMS or source in services
    if ruled and sender == PARK_CLI and sender != own_user:
        log.warning(
            "event published by the operator (park-cli) accepted as a manual correction",
            source=source,
        )
