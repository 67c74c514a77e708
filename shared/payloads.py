"""Domain events as JSON-ready payloads — standard library only, so that a service's pure
``domain/`` may import it (``services/README.md``).

:func:`event_payload` turns a frozen dataclass event into the payload of its message:
every field except the envelope's ``occurred_at`` and ``park_id``, with datetimes as
ISO 8601 UTC with ``Z``, dates as ISO dates, enums as their values, tuples and lists as
lists, and nested dataclasses (a reason, an enterprise card) as objects.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from enum import Enum
from typing import Any

ENVELOPE_FIELDS = frozenset({"occurred_at", "park_id"})


def event_payload(event: Any) -> dict[str, Any]:
    """The event's fields as JSON-ready data, without the envelope's ``occurred_at`` and
    ``park_id``."""
    if not dataclasses.is_dataclass(event) or isinstance(event, type):
        raise TypeError(f"not a dataclass instance: {event!r}")
    return {
        field.name: jsonable(getattr(event, field.name))
        for field in dataclasses.fields(event)
        if field.name not in ENVELOPE_FIELDS
    }


def jsonable(value: Any) -> Any:
    """``value`` as JSON-ready data (see the module docstring); other values as they are."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [jsonable(item) for item in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return value
