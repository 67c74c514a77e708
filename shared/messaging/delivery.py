"""What the consumer decides about one delivery, as pure functions (no broker needed).

Which AMQP properties are readable, whom the broker vouches for, which ``park-*`` headers
are believed, and what a retried or dead-lettered copy carries. The rule for headers:
every ``park-*`` header is set by the consumer from what it knows — the queue it read
from, the delivery's exchange and routing key, the broker-verified ``user_id`` — and the
ones already on a message are believed only when the broker vouches that this service
published it (its ``user_id`` is the service's own): a copy coming back from its own
retry queue, or a replay run with its credentials. Anyone else's are dropped.
"""

import calendar
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from shared.contract.envelope import Event
from shared.contract.fields import text_problem
from shared.messaging.amqp_decoding import UNDECODABLE
from shared.messaging.errors import MalformedMessage
from shared.messaging.topology import Subscription

PARK_PREFIX = "park-"
ATTEMPTS = "park-attempts"
SENDER = "park-sender"
ERROR = "park-error"
ORIGINAL_QUEUE = "park-original-queue"
ORIGINAL_EXCHANGE = "park-original-exchange"
ORIGINAL_ROUTING_KEY = "park-original-routing-key"
FAILED_AT = "park-failed-at"
# AMQP properties a retried, dead-lettered or replayed copy keeps from its original.
CARRIED_PROPERTIES = (
    "message_id",
    "correlation_id",
    "timestamp",
    "app_id",
    "type",
    "content_type",
    "content_encoding",
)
# The broker's own bookkeeping: it rebuilds these on the copy.
BROKER_HEADERS = frozenset({"x-death", "x-delivery-count"})
BROKER_HEADER_PREFIXES = ("x-first-death-", "x-last-death-")
MAX_HEADER_DEPTH = 8
MAX_TEXT_BYTES = 65_536  # one header string in a copy


def is_own_copy(properties: Mapping[str, Any], own_user: str) -> bool:
    """True when the broker vouches that this service published the message.

    RabbitMQ refuses a ``user_id`` that is not the connection's user, so only this
    service (or whoever holds its credentials) can publish with its user id.
    """
    user_id = properties.get("user_id")
    return isinstance(user_id, str) and bool(user_id) and user_id == own_user


def verified_sender(
    properties: Mapping[str, Any], headers: Mapping[str, Any], own_user: str
) -> str | None:
    """The broker-validated publisher of the *original* message, or None."""
    if is_own_copy(properties, own_user):
        sender = headers.get(SENDER)
        return sender if isinstance(sender, str) and text_problem(sender) is None else None
    user_id = properties.get("user_id")
    return user_id if isinstance(user_id, str) and user_id else None


def attempts_so_far(
    properties: Mapping[str, Any], headers: Mapping[str, Any], own_user: str
) -> int:
    """Failed attempts recorded on an own copy; 0 for anything from anyone else."""
    if not is_own_copy(properties, own_user):
        return 0
    value = headers.get(ATTEMPTS, 0)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def property_problems(properties: Mapping[str, Any]) -> list[str]:
    """Why the message's properties or headers cannot be trusted to be read, if they cannot."""
    problems = [str(reason) for reason in properties.get(UNDECODABLE, ())]
    for name in (*CARRIED_PROPERTIES, "user_id"):
        value = properties.get(name)
        if isinstance(value, str) and text_problem(value):
            problems.append(f"property {name} is not valid text")
    return problems


def check_route(event: Event, subscription: Subscription) -> None:
    """A message on a work queue must be of the one type that queue takes."""
    if (event.source, event.type) != (subscription.source, subscription.type):
        raise MalformedMessage(
            f"type: {event.source}/{event.type} arrived on {subscription.queue}, "
            f"which takes only {subscription.source}/{subscription.type}"
        )


def copy_properties(
    properties: Mapping[str, Any],
    headers: Mapping[str, Any],
    delivery_info: Mapping[str, Any],
    *,
    queue: str,
    own_user: str,
    extra_headers: Mapping[str, Any],
) -> dict[str, Any]:
    """The AMQP properties of a retried or dead-lettered copy, published as ``own_user``.

    Carried: the original's readable properties, its foreign headers that can be
    published again, where it came from (recorded on first receipt: a copy back from the
    retry queue arrives through the default exchange), its verified sender, and
    ``extra_headers``. Every other ``park-*`` header is dropped unless the copy is our own.
    """
    own = is_own_copy(properties, own_user)
    copied = {key: value for key, value in headers.items() if _keeps(key, value, own)}
    copied[ORIGINAL_QUEUE] = queue
    for header, info in ((ORIGINAL_EXCHANGE, "exchange"), (ORIGINAL_ROUTING_KEY, "routing_key")):
        recorded = headers.get(header)
        if not (own and isinstance(recorded, str) and _publishable(recorded, 0)):
            value = delivery_info.get(info)
            copied[header] = value if isinstance(value, str) and _publishable(value, 0) else ""
    copied.pop(SENDER, None)
    if sender := verified_sender(properties, headers, own_user):
        copied[SENDER] = sender
    copied.update(extra_headers)
    carried = {
        key: properties[key]
        for key in CARRIED_PROPERTIES
        if properties.get(key) is not None and _carriable(key, properties[key])
    }
    carried.setdefault("content_type", "application/json")
    return {**carried, "user_id": own_user, "headers": copied}


def _keeps(key: Any, value: Any, own: bool) -> bool:
    if not (isinstance(key, str) and _valid_key(key)):
        return False
    if key in BROKER_HEADERS or key.startswith(BROKER_HEADER_PREFIXES):
        return False
    if key.lower().startswith(PARK_PREFIX) and not (own and key.startswith(PARK_PREFIX)):
        return False
    return _publishable(value, 0)


def _valid_key(key: str) -> bool:
    return text_problem(key) is None and 0 < len(key.encode("utf-8")) <= 255


def _carriable(key: str, value: Any) -> bool:
    if key == "timestamp":
        return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63
    return isinstance(value, str) and text_problem(value) is None and len(value.encode()) <= 255


def _publishable(value: Any, depth: int) -> bool:
    """Whether py-amqp can encode ``value`` in a header table, and it is valid text."""
    if value is None or isinstance(value, bool | float):
        return True
    if isinstance(value, int):
        return -(2**63) <= value < 2**63
    if isinstance(value, str):
        return text_problem(value) is None and len(value.encode("utf-8")) <= MAX_TEXT_BYTES
    if isinstance(value, datetime):
        return value.year >= 1970 and calendar.timegm(value.utctimetuple()) < 2**63
    if depth >= MAX_HEADER_DEPTH:
        return False
    if isinstance(value, list | tuple):
        return all(_publishable(item, depth + 1) for item in value)
    if isinstance(value, dict):
        return all(
            isinstance(k, str) and _valid_key(k) and _publishable(v, depth + 1)
            for k, v in value.items()
        )
    return False  # bytes (a string that was not UTF-8), Decimal, anything else
