"""Who may publish on which exchange: the rule a consumer applies to the verified sender.

The broker vouches for the AMQP ``user_id`` (it refuses one that is not the connection's
user), and the consumer turns it into ``event.sender`` — the original publisher, also on
copies coming back from the service's own retry queue (``park-sender``). This module
decides whether that sender may have published the event's source:

* an ingress system's exchange (``portal``, ``gov``, ``bank``, ``meters``) takes events
  from that system's own user; from one of the project's services (a replay with the
  service's credentials); and from the operator CLI ``park-cli`` (a manual correction or
  a replay, logged as such). Anyone else — another ingress system, a firm, ``guest``, or
  no ``user_id`` at all — is refused: the message is malformed and dead-lettered at once
  with ``sender X may not publish on portal.events``;
* ``firms.events`` takes a report only from a firm's user, ``firm-<firm_id>`` (whether
  the ticket is that firm's is the handler's business);
* every other exchange (the services' own events, test sources) has no rule here.

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


def _named(sender: str | None) -> str:
    if sender is None:
        return "(none: no user_id)"
    return repr(sender) if not sender.isprintable() or not sender else sender


def sender_refusal(
    source: str, sender: str | None, *, services: Collection[str] = SERVICES
) -> str | None:
    """Why ``sender`` may not publish events of ``source``; None if it may."""
    if source in INGRESS_SYSTEMS:
        if sender is not None and (sender in (source, PARK_CLI) or sender in services):
            return None
    elif source == FIRMS:
        if sender is not None and FIRM_USER.fullmatch(sender):
            return None
    else:
        return None
    return f"sender {_named(sender)[:100]} may not publish on {events_exchange(source)}"


def check_sender(source: str, sender: str | None, *, services: Collection[str] = SERVICES):
    """Raise :class:`MalformedMessage` for a sender the rule refuses; log the operator's
    manual corrections (events the CLI published on an ingress exchange)."""
    refusal = sender_refusal(source, sender, services=services)
    if refusal:
        raise MalformedMessage(refusal)
    if sender == PARK_CLI and source in INGRESS_SYSTEMS:
        log.warning("event published by the operator (park-cli) accepted", source=source)
