import json
from datetime import date

from services.onboarding.domain.events import (
    ApplicationRejected,
    ProductionStarted,
    UnitsAllocated,
    event_payload,
)
from services.onboarding.domain.reasons import Reason, ReasonCode
from services.onboarding.domain.units import AllocatedUnit, Tenure
from services.onboarding.tests.unit.builders import NOW


def test_a_payload_leaves_the_envelope_fields_out():
    event = ProductionStarted(
        occurred_at=NOW,
        park_id="test-park",
        enterprise_id="ent-1",
        application_id="app-1",
        started_on=date(2026, 12, 1),
    )
    assert event_payload(event) == {
        "enterprise_id": "ent-1",
        "application_id": "app-1",
        "started_on": "2026-12-01",
    }
    assert event.event_type == "production_started"


def test_a_payload_with_nested_values_is_plain_json():
    unit = AllocatedUnit("S01", 1000, Tenure.LEASE, None, 1_500_000, 150_000, "ctr-1")
    event = UnitsAllocated(
        occurred_at=NOW,
        park_id="test-park",
        application_id="app-1",
        enterprise_id="ent-1",
        contract_id="ctr-1",
        tenure=Tenure.LEASE,
        units=(unit,),
    )
    payload = json.loads(json.dumps(event_payload(event)))
    assert payload["tenure"] == "lease"
    assert payload["units"][0]["monthly_rent_fen"] == 1_500_000


def test_reasons_serialise_with_code_message_and_field():
    event = ApplicationRejected(
        occurred_at=NOW,
        park_id="test-park",
        application_id="app-1",
        reasons=(Reason(ReasonCode.INVALID_USCC, "bad", "enterprise.uscc"),),
    )
    assert event_payload(event)["reasons"] == [
        {"code": "invalid_uscc", "message": "bad", "field": "enterprise.uscc"}
    ]


def test_datetimes_serialise_as_utc_with_z():
    from services.onboarding.domain.events import AcceptedWithDeficiencies

    event = AcceptedWithDeficiencies(
        occurred_at=NOW, park_id="p", application_id="a", items=("营业执照",), deadline=NOW
    )
    assert event_payload(event)["deadline"] == "2026-11-27T02:00:00Z"
