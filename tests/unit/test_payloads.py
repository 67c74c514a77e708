"""``shared.payloads``: one conversion of domain events to payloads for every service,
importable by a pure domain (standard library only)."""

import dataclasses
import json
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta, timezone
from enum import Enum, StrEnum

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.payloads import event_payload, jsonable


class Colour(Enum):
    RED = "red"


class Kind(StrEnum):
    LEGAL = "legal"


@dataclasses.dataclass(frozen=True)
class Reason:
    code: str
    field: str | None


@dataclasses.dataclass(frozen=True, kw_only=True)
class Happened:
    occurred_at: datetime
    park_id: str | None
    at: datetime
    on: date
    kind: Kind
    colour: Colour
    reasons: tuple[Reason, ...]
    amount: int | None
    note: str


def test_an_event_becomes_its_payload_without_the_envelope_fields() -> None:
    beijing = timezone(timedelta(hours=8))
    event = Happened(
        occurred_at=datetime(2026, 11, 27, 2, tzinfo=UTC),
        park_id="aux-shangjie",
        at=datetime(2026, 11, 27, 10, 30, tzinfo=beijing),
        on=date(2026, 10, 1),
        kind=Kind.LEGAL,
        colour=Colour.RED,
        reasons=(Reason("unknown_service_code", "service_code"),),
        amount=None,
        note="劳动争议",
    )
    assert event_payload(event) == {
        "at": "2026-11-27T02:30:00Z",
        "on": "2026-10-01",
        "kind": "legal",
        "colour": "red",
        "reasons": [{"code": "unknown_service_code", "field": "service_code"}],
        "amount": None,
        "note": "劳动争议",
    }


def test_only_a_dataclass_instance_is_an_event() -> None:
    with pytest.raises(TypeError):
        event_payload(Happened)
    with pytest.raises(TypeError):
        event_payload({"at": 1})


json_ready = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text() | st.datetimes(timezones=st.just(UTC)),
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner),
    max_leaves=12,
)


@given(json_ready)
def test_whatever_it_converts_is_json(value) -> None:
    json.dumps(jsonable(value))


def test_both_domains_use_it_and_it_imports_only_the_standard_library() -> None:
    from services.onboarding.domain import events as onboarding_events
    from services.ticketing.domain import events as ticketing_events

    assert onboarding_events.event_payload is event_payload
    assert ticketing_events.event_payload is event_payload
    probe = (
        "import sys; before = set(sys.modules); import shared.payloads; "
        "new = {m.split('.')[0] for m in set(sys.modules) - before}; "
        "print(sorted(new - set(sys.stdlib_module_names) - {'shared'}))"
    )
    found = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert found.stdout.strip() == "[]"
