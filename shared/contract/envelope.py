"""The envelope every message carries (DESIGN §3), and how to read and build one."""

import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from marshmallow import RAISE, Schema, ValidationError

from shared.contract.fields import StrictInteger, Text, UtcDateTime, Uuid, text_errors, utc_iso
from shared.contract.registry import REGISTRY, Registry
from shared.messaging.errors import ContractViolation, MalformedMessage


class JsonObject(Text):
    """A JSON object, kept as a dict; the payload's own schema checks its contents."""

    default_error_messages = {"invalid": "Not a JSON object."}

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, dict):
            raise self.make_error("invalid")
        return value


class EnvelopeSchema(Schema):
    """The fields around every payload; unknown envelope fields are refused."""

    class Meta:
        unknown = RAISE

    event_id = Uuid(required=True)
    type = Text(required=True)
    source = Text(required=True)
    version = StrictInteger(required=True, minimum=1)
    occurred_at = UtcDateTime(required=True)
    correlation_id = Uuid(required=True)
    causation_id = Uuid(required=True, allow_none=True)
    park_id = Text(required=True, allow_none=True)
    payload = JsonObject(required=True)


_ENVELOPE = EnvelopeSchema()

MAX_BODY_BYTES = 1024 * 1024  # a message body larger than this is malformed
MAX_NESTING = 32  # levels of JSON arrays and objects, the envelope included


@dataclass(frozen=True)
class Event:
    """A validated event as a consumer sees it.

    ``payload`` is the loaded payload (strict types: ``datetime``, ``Decimal``, fen ints);
    ``sender`` is the broker-verified AMQP ``user_id`` of the original publisher, or None.
    """

    event_id: str
    type: str
    source: str
    version: int
    occurred_at: datetime
    correlation_id: str
    causation_id: str | None
    park_id: str | None
    payload: Mapping[str, Any]
    sender: str | None = None
    raw_payload: Mapping[str, Any] = field(default_factory=dict, repr=False)


def _flatten(messages: Any, prefix: str = "") -> list[str]:
    """marshmallow's nested error dict → ``["payload.enterprise.uscc: Missing data …"]``."""
    if isinstance(messages, dict):
        found = []
        for key, value in sorted(messages.items(), key=lambda item: str(item[0])):
            found += _flatten(value, f"{prefix}.{key}" if prefix else str(key))
        return found
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return [f"{prefix}: {' '.join(messages)}"]
    if isinstance(messages, list):
        return [line for item in messages for line in _flatten(item, prefix)]
    return [f"{prefix}: {messages}"]


def describe(error: ValidationError, prefix: str = "") -> str:
    """A readable one-line reason naming every failing field."""
    return "; ".join(_flatten(error.messages, prefix))


def parse(body: bytes | str, *, sender: str | None = None, registry: Registry = REGISTRY) -> Event:
    """Read a message body into an :class:`Event`, or raise :class:`MalformedMessage`.

    Malformed means: larger than ``MAX_BODY_BYTES``, not UTF-8 JSON, nested deeper than
    ``MAX_NESTING``, not an object, a string that is not valid text (NUL, lone surrogate),
    a missing envelope or payload field, a wrong JSON type, or an unknown
    ``(source, type, version)``. Business rules on the values are not checked here; they
    belong to the consuming service. Whatever the bytes, this raises nothing else.
    """
    if not isinstance(body, bytes | str):
        raise MalformedMessage(f"body: expected bytes, got {type(body).__name__}")
    if len(body) > MAX_BODY_BYTES:
        raise MalformedMessage(f"body: {len(body)} bytes, more than the {MAX_BODY_BYTES} allowed")
    try:
        document = json.loads(body)
    except RecursionError:
        raise MalformedMessage(f"body: nested deeper than {MAX_NESTING} levels") from None
    except (UnicodeDecodeError, ValueError) as error:
        raise MalformedMessage(f"body: not valid JSON ({error})") from None
    if not isinstance(document, dict):
        raise MalformedMessage("body: the envelope must be a JSON object")
    if _nesting(document) > MAX_NESTING:
        raise MalformedMessage(f"body: nested deeper than {MAX_NESTING} levels")
    if (errors := text_errors(document)) is not None:
        raise MalformedMessage(describe(ValidationError(errors)))
    try:
        return _load(document, sender, registry)
    except MalformedMessage:
        raise
    except Exception as error:  # a bug here must not take the consumer down
        raise MalformedMessage(f"body: cannot be read ({type(error).__name__}: {error})") from None


def _nesting(document: Any) -> int:
    """How many levels of arrays and objects ``document`` has (without recursion)."""
    deepest, stack = 0, [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            deepest = max(deepest, depth)
            if depth <= MAX_NESTING:
                items = value.values() if isinstance(value, dict) else value
                stack.extend((item, depth + 1) for item in items)
    return deepest


def _load(document: dict, sender: str | None, registry: Registry) -> Event:
    problems: list[str] = []
    try:
        envelope = _ENVELOPE.load(document)
    except ValidationError as error:
        problems.append(describe(error))
        envelope = error.valid_data or {}
    if {"source", "type", "version", "payload"} <= set(envelope):
        # Report payload problems together with envelope ones: the sender fixes both at once.
        spec = registry.spec(envelope["source"], envelope["type"], envelope["version"])
        try:
            envelope["payload"] = spec.schema().load(document["payload"])
        except ValidationError as error:
            problems.append(describe(error, "payload"))
    if problems:
        raise MalformedMessage("; ".join(problems))
    return Event(
        event_id=envelope["event_id"],
        type=envelope["type"],
        source=envelope["source"],
        version=envelope["version"],
        occurred_at=envelope["occurred_at"],
        correlation_id=envelope["correlation_id"],
        causation_id=envelope["causation_id"],
        park_id=envelope["park_id"],
        payload=envelope["payload"],
        sender=sender,
        raw_payload=document["payload"],
    )


def validate_outgoing(
    source: str,
    type_: str,
    payload: Mapping[str, Any],
    version: int = 1,
    registry: Registry = REGISTRY,
) -> dict[str, Any]:
    """Turn a payload of Python values into its JSON form, refusing anything off-contract.

    Raises :class:`ContractViolation`: publishing an event that its consumers would
    dead-letter is a bug in the publisher, and must fail where it happens.
    """
    try:
        spec = registry.spec(source, type_, version)
    except MalformedMessage as error:
        raise ContractViolation(f"cannot emit {source}/{type_} v{version}: {error}") from None
    schema = spec.schema()
    extra = set(payload) - set(schema.fields)
    if extra:
        raise ContractViolation(f"{spec.key}: fields not in the contract: {sorted(extra)}")
    try:
        document = schema.dump(payload)
        schema.load(document)
    except (ValidationError, TypeError, ValueError, AttributeError) as error:
        reason = describe(error, "payload") if isinstance(error, ValidationError) else error
        raise ContractViolation(f"{spec.key}: {reason}") from None
    return document


def build(
    source: str,
    type_: str,
    payload: Mapping[str, Any],
    *,
    occurred_at: datetime,
    correlation_id: str | None = None,
    causation_id: str | None = None,
    park_id: str | None = None,
    version: int = 1,
    new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    registry: Registry = REGISTRY,
) -> dict[str, Any]:
    """Build a complete, contract-checked envelope ready to serialise.

    A flow that starts here (no ``correlation_id``) gets a new correlation id.
    """
    event_id = new_id()
    return {
        "event_id": event_id,
        "type": type_,
        "source": source,
        "version": version,
        "occurred_at": utc_iso(occurred_at),
        "correlation_id": correlation_id or new_id(),
        "causation_id": causation_id,
        "park_id": park_id,
        "payload": validate_outgoing(source, type_, payload, version, registry),
    }


def encode(envelope: Mapping[str, Any]) -> bytes:
    """The wire form: compact UTF-8 JSON, Chinese text kept readable."""
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
