"""Checking an event against the contract registry before anything is sent.

The payload is read exactly as the consuming service will read it (the registry's schema
loads the JSON form), and fields the contract does not know are refused at every level:
a consumer ignores them, so a misspelt optional field would otherwise vanish unseen.
Python conveniences are turned into their JSON form first (an aware ``datetime`` → UTC
``…Z``, ``Decimal`` → decimal string, ``UUID`` → text, ``date`` → ``YYYY-MM-DD``).
"""

import math
import uuid
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from marshmallow import Schema, ValidationError, fields

import shared.contract  # noqa: F401  (importing it fills the registry)
from clients.publisher.errors import InvalidEvent
from shared.contract.envelope import MAX_NESTING, parse
from shared.contract.fields import utc_iso
from shared.contract.registry import REGISTRY, EventSpec, Registry
from shared.messaging.errors import MalformedMessage
from shared.messaging.topology import INGRESS_SOURCES

# The systems this library is for; firms have their own client (clients/firm/).
INGRESS_SYSTEMS = tuple(s for s in INGRESS_SOURCES if s != "firms")


def validate_payload(
    system: str,
    type_: str,
    payload: Any,
    *,
    version: int = 1,
    registry: Registry = REGISTRY,
) -> dict[str, Any]:
    """The payload's JSON form, or :class:`InvalidEvent` naming every failing field."""
    name = f"{system}/{type_} v{version}"
    try:
        spec = registry.spec(system, type_, version)
    except MalformedMessage as error:
        raise InvalidEvent(name, problems_of_reason(error.reason)) from None
    if not isinstance(payload, Mapping):
        raise InvalidEvent(name, {"payload": f"not a JSON object ({type(payload).__name__})"})
    problems: dict[str, str] = {}
    document = _json_form(payload, "payload", problems, depth=1)
    if problems:
        raise InvalidEvent(name, problems)
    schema = spec.schema()
    _unknown_fields(schema, document, "payload", problems)
    try:
        schema.load(document)
    except ValidationError as error:
        _collect(error.messages, "payload", problems)
    if problems:
        raise InvalidEvent(name, problems)
    return document


def check_envelope(spec_name: str, body: bytes) -> None:
    """Read the encoded envelope as a consumer does (size, nesting, every field)."""
    try:
        parse(body)
    except MalformedMessage as error:
        raise InvalidEvent(spec_name, problems_of_reason(error.reason)) from None


def ingress_specs(registry: Registry = REGISTRY) -> list[EventSpec]:
    """Every registered event another system publishes (portal, gov, bank, meters)."""
    return [spec for spec in registry if spec.key.source in INGRESS_SYSTEMS]


def problems_of_reason(reason: str) -> dict[str, str]:
    """``"a: why; b.c: why"`` (the contract's readable reasons) → ``{"a": "why", …}``."""
    problems: dict[str, str] = {}
    for part in reason.split("; "):
        field, sep, why = part.partition(": ")
        if sep and field and " " not in field:
            problems[field] = why
        else:
            problems.setdefault("event", part)
    return problems


def _json_form(value: Any, path: str, problems: dict[str, str], depth: int) -> Any:
    """``value`` as JSON data; anything that has no JSON form is a problem at ``path``."""
    if depth > MAX_NESTING:
        problems[path] = f"nested deeper than {MAX_NESTING} levels"
        return None
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            problems[path] = f"{value!r} has no JSON form"
        return value
    if isinstance(value, Mapping):
        document = {}
        for key, item in value.items():
            if not isinstance(key, str):
                problems[path] = f"object keys must be text, not {type(key).__name__}"
                continue
            document[key] = _json_form(item, f"{path}.{key}", problems, depth + 1)
        return document
    if isinstance(value, list | tuple):
        return [
            _json_form(item, f"{path}.{index}", problems, depth + 1)
            for index, item in enumerate(value)
        ]
    if isinstance(value, datetime):
        # A naive time keeps no offset: the schema then refuses it, naming the field.
        return utc_iso(value) if value.tzinfo is not None else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        if not value.is_finite():
            problems[path] = f"{value!r} is not a finite number"
        return str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    problems[path] = f"{type(value).__name__} has no JSON form"
    return None


def _unknown_fields(schema: Schema, data: Any, path: str, problems: dict[str, str]) -> None:
    if not isinstance(data, Mapping):
        return  # the schema's own load reports the wrong type
    known = {field.data_key or name: field for name, field in schema.fields.items()}
    for key, value in data.items():
        field = known.get(key)
        if field is None:
            problems[f"{path}.{key}"] = "not in the contract (unknown field)"
        elif isinstance(field, fields.Nested) and isinstance(field.schema, Schema):
            _unknown_fields(field.schema, value, f"{path}.{key}", problems)
        elif (
            isinstance(field, fields.List)
            and isinstance(field.inner, fields.Nested)
            and isinstance(value, list)
        ):
            for index, item in enumerate(value):
                _unknown_fields(field.inner.schema, item, f"{path}.{key}.{index}", problems)


def _collect(messages: Any, path: str, problems: dict[str, str]) -> None:
    """marshmallow's nested messages → ``{"payload.enterprise.uscc": "why", …}``."""
    if isinstance(messages, Mapping):
        for key, value in messages.items():
            _collect(value, path if key == "_schema" else f"{path}.{key}", problems)
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        problems[path] = " ".join(messages)
    elif isinstance(messages, list):
        for item in messages:
            _collect(item, path, problems)
    else:
        problems[path] = str(messages)
