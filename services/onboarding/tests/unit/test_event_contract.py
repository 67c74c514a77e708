"""Every onboarding domain event is the same thing as its contract schema.

Domain events are dataclasses (``domain/events.py``) and their payloads are schemas
(``shared/contract/onboarding.py``): this ties the two, so a field added to one and not
the other fails here, not on the outbox at run time.
"""

import dataclasses
import types
import typing
import uuid
from datetime import date

import pytest

from services.onboarding.domain import events
from services.onboarding.domain.events import DomainEvent, event_payload
from services.onboarding.domain.reasons import Reason, ReasonCode
from services.onboarding.domain.units import AllocatedUnit, Tenure
from services.onboarding.tests.unit.builders import NOW
from shared.contract import REGISTRY, validate_outgoing

ENVELOPE_FIELDS = {"occurred_at", "park_id", "event_type"}
CHOICES = {"tenure": "lease", "decision": "approve", "withdrawn_by": "operator"}


def domain_events() -> list[type[DomainEvent]]:
    return sorted(
        (
            value
            for value in vars(events).values()
            if isinstance(value, type)
            and issubclass(value, DomainEvent)
            and value is not DomainEvent
        ),
        key=lambda cls: cls.event_type,
    )


def sample(name: str, annotation, *, filled: bool):
    """A valid value of ``annotation`` for field ``name`` (``None`` where allowed and not
    ``filled``)."""
    origin = typing.get_origin(annotation)
    arguments = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if not filled and type(None) in arguments:
            return None
        (inner,) = [a for a in arguments if a is not type(None)]
        return sample(name, inner, filled=filled)
    if origin is tuple:
        return (sample(name, arguments[0], filled=filled),)
    if annotation is str:
        return CHOICES.get(name, str(uuid.uuid4()))
    if annotation is bool:
        return True
    if annotation is int:
        return 12
    if annotation is date:
        return date(2026, 12, 1)
    if annotation.__name__ == "datetime":
        return NOW
    if annotation is Reason:
        return Reason(ReasonCode.INVALID_USCC, "bad check digit", "enterprise.uscc")
    if annotation is AllocatedUnit:
        return AllocatedUnit("B01-1F-01", 300, Tenure.LEASE, None, 450_000, 45_000, "ctr-1")
    raise AssertionError(f"no sample for {name}: {annotation!r}")


def build_event(event_class: type[DomainEvent], *, filled: bool) -> DomainEvent:
    hints = typing.get_type_hints(event_class)
    values = {
        f.name: sample(f.name, hints[f.name], filled=filled)
        for f in dataclasses.fields(event_class)
        if f.name not in ("occurred_at", "park_id")
    }
    return event_class(occurred_at=NOW, park_id="test-park", **values)


def test_every_domain_event_type_is_in_the_contract():
    for event_class in domain_events():
        assert ("onboarding", event_class.event_type, 1) in {
            (s.key.source, s.key.type, s.key.version) for s in REGISTRY
        }, event_class


def test_every_onboarding_event_in_the_contract_has_a_domain_event():
    contracted = {s.key.type for s in REGISTRY if s.key.source == "onboarding"}
    assert contracted == {cls.event_type for cls in domain_events()}


@pytest.mark.parametrize("event_class", domain_events(), ids=lambda cls: cls.event_type)
def test_a_domain_event_has_exactly_the_fields_of_its_schema(event_class):
    spec = REGISTRY.spec("onboarding", event_class.event_type, 1)
    schema_fields = set(spec.schema().fields)
    event_fields = {f.name for f in dataclasses.fields(event_class)} - ENVELOPE_FIELDS
    assert event_fields == schema_fields


@pytest.mark.parametrize("filled", [True, False], ids=["all fields set", "optional ones null"])
@pytest.mark.parametrize("event_class", domain_events(), ids=lambda cls: cls.event_type)
def test_a_domain_event_round_trips_through_its_contract_schema(event_class, filled):
    payload = event_payload(build_event(event_class, filled=filled))
    checked = validate_outgoing("onboarding", event_class.event_type, payload, 1)
    assert checked == payload
    loaded = REGISTRY.spec("onboarding", event_class.event_type, 1).schema().load(checked)
    assert REGISTRY.spec("onboarding", event_class.event_type, 1).schema().dump(loaded) == payload
