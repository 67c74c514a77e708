"""One example envelope per registered event, for the catalogue.

The payload comes from the docs when they have one (``docs/events.md``, and
``docs/onboarding.md``'s block of ``// type`` lines — the same examples
``tests/unit/test_docs_examples.py`` checks against the contract and onboarding's own
rules), else it is made from the event's JSON Schema. Either way it must pass the
contract's marshmallow schema here, so an example the catalogue shows is one a consumer
accepts; an event whose made-up example the contract refuses (a cross-field rule) needs
a documented one, and :class:`ExampleMissing` says so.
"""

import json
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema

from shared.contract.registry import EventSpec
from tools.contract.json_schema import JsonSchema

# `portal.events` / `application_submitted` (v1), `firms.events` / `work_accepted`,
# `work_declined` (one example for several), `ticketing.work` / `work_assigned`.
EVENT_NAMES = re.compile(r"(?:`|\*\*)(\w+)\.(?:events|work)(?:`|\*\*)\s*/\s*((?:`\w+`(?:,\s*)?)+)")
NAMESPACE = uuid.UUID("5b6f3e0c-8d2a-4c1e-9f7a-2d4b6c8e0a1f")  # ids of made-up examples
OCCURRED_AT = "2026-11-27T05:40:00Z"
PARK_ID = "aux-shangjie"


class ExampleMissing(ValueError):
    """An event has no documented example and the one made from its schema is refused."""


@dataclass(frozen=True)
class Example:
    """A payload and where it came from (the doc's path, not its line: the catalogue must
    not go stale whenever a paragraph above the example changes)."""

    payload: dict[str, Any]
    origin: str


def _json_blocks(path: Path):
    lines = path.read_text("utf-8").splitlines()
    start = None
    for number, line in enumerate(lines, start=1):
        if line.strip() == "```json":
            start = number
        elif line.strip() == "```" and start is not None:
            yield "\n".join(lines[start : number - 1]), "\n".join(lines[: start - 1])
            start = None


def documented_examples(root: Path) -> dict[tuple[str, str], Example]:
    """The first documented payload of each ``(source, type)``."""
    found: dict[tuple[str, str], Example] = {}
    events = root / "docs" / "events.md"
    if events.exists():
        for text, before in _json_blocks(events):
            names = EVENT_NAMES.findall(before)
            if not names:
                continue
            source, types = names[-1]
            for type_ in re.findall(r"`(\w+)`", types):
                found.setdefault(
                    (source, type_), Example(json.loads(text), "documented in docs/events.md")
                )
    onboarding = root / "docs" / "onboarding.md"
    if onboarding.exists():
        for text, _ in _json_blocks(onboarding):
            for match in re.finditer(r"(?m)^// (\w+)\n((?:(?!//).*\n?)+)", text):
                type_, body = match.groups()
                found.setdefault(
                    ("onboarding", type_),
                    Example(json.loads(body), "documented in docs/onboarding.md"),
                )
    return found


def value_bank(documented: dict[tuple[str, str], Example]) -> dict[str, list[Any]]:
    """Every value the documented examples give a field of each name (at any depth): a
    made-up example borrows them where they fit, so it reads like the documented ones."""
    bank: dict[str, list[Any]] = {}

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for name, inner in value.items():
                bank.setdefault(name, []).append(inner)
                walk(inner)
        elif isinstance(value, list):
            for inner in value:
                walk(inner)

    for example in documented.values():
        walk(example.payload)
    return bank


def example_for(
    spec: EventSpec, schema: JsonSchema, documented: dict[tuple[str, str], Example]
) -> Example:
    """The example payload of one event: documented if possible, else made up; checked
    against the contract either way."""
    key = (spec.key.source, spec.key.type)
    example = documented.get(key) if spec.key.version == 1 else None
    if example is None:
        payload = made_up(schema, str(spec.key), value_bank(documented))
        example = Example(payload, "made up from the schema and the documented examples")
    errors = spec.schema().validate(example.payload)
    if errors:
        raise ExampleMissing(
            f"{spec.key}: the example ({example.origin}) fails the contract: {errors}. "
            "Document a valid example payload in docs/events.md."
        )
    return example


def envelope_for(spec: EventSpec, payload: dict[str, Any]) -> dict[str, Any]:
    """The example payload in its envelope (DESIGN §3), with stable made-up ids."""
    seed = str(spec.key)
    return {
        "event_id": str(uuid.uuid5(NAMESPACE, f"{seed}/event")),
        "type": spec.key.type,
        "source": spec.key.source,
        "version": spec.key.version,
        "occurred_at": OCCURRED_AT,
        "correlation_id": str(uuid.uuid5(NAMESPACE, f"{seed}/correlation")),
        "causation_id": None,
        "park_id": PARK_ID,
        "payload": payload,
    }


def made_up(schema: JsonSchema, path: str, bank: dict[str, list[Any]] | None = None) -> Any:
    """A value valid for ``schema`` (as this converter writes them), stable for ``path``:
    the first value the documented examples give a field of that name that fits, else
    one made from the schema alone."""
    bank = bank or {}
    name = path.rsplit(".", 1)[-1]
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())
    for candidate in bank.get(name, ()):
        if candidate is not None and validator.is_valid(candidate):
            return candidate
    if "anyOf" in schema:
        usable = [s for s in schema["anyOf"] if s.get("type") != "null"]
        return made_up(usable[0], path, bank) if usable else None
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next(k for k in kind if k != "null")
    if "enum" in schema:
        return next(choice for choice in schema["enum"] if choice is not None)
    if kind == "object":
        return {
            field: made_up(inner, f"{path}.{field}", bank)
            for field, inner in schema.get("properties", {}).items()
        }
    if kind == "array":
        count = max(1, schema.get("minItems", 0))
        return [made_up(schema["items"], f"{path}.{name}", bank) for _ in range(count)]
    if kind == "integer":
        value = max(schema.get("minimum", 1), 1)
        return min(value, schema.get("maximum", value))
    if kind == "boolean":
        return False
    if kind == "string":
        return _made_up_string(schema, path)
    raise ExampleMissing(f"{path}: cannot make up a value for {schema}")


def _made_up_string(schema: JsonSchema, path: str) -> str:
    form = schema.get("format")
    if form == "uuid":
        return str(uuid.uuid5(NAMESPACE, path))
    if form == "date-time":
        return OCCURRED_AT
    if form == "date":
        return OCCURRED_AT[:10]
    pattern = schema.get("pattern")
    if pattern and pattern.startswith("^-?[0-9]+"):  # a decimal string
        return "1"
    if pattern not in (None, r"\S"):
        raise ExampleMissing(f"{path}: cannot make up a string matching {pattern}")
    return path.rsplit(".", 1)[-1]
