import json
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from shared.contract import REGISTRY, build, encode, parse, validate_outgoing
from shared.messaging.errors import ContractViolation, MalformedMessage, UnknownEvent

NOW = datetime(2026, 11, 27, 5, 40, tzinfo=UTC)


def payment(**changes) -> dict:
    payload = {
        "bank_txn_id": "T-1",
        "payer_uscc": "91410100MA44XXXX1X",
        "amount_fen": 1250,
        "received_at": NOW,
        "reference": "INV-2026-0001",
    }
    return payload | changes


def envelope(**changes) -> dict:
    document = build("bank", "payment_received", payment(), occurred_at=NOW, park_id="aux-shangjie")
    return json.loads(encode(document)) | changes


def test_a_built_envelope_has_every_field_of_the_contract():
    document = build("bank", "payment_received", payment(), occurred_at=NOW, park_id="p")

    assert set(document) == {
        "event_id",
        "type",
        "source",
        "version",
        "occurred_at",
        "correlation_id",
        "causation_id",
        "park_id",
        "payload",
    }
    assert document["occurred_at"] == "2026-11-27T05:40:00Z"
    assert document["payload"]["received_at"] == "2026-11-27T05:40:00Z"
    assert document["causation_id"] is None
    uuid.UUID(document["correlation_id"])


def test_a_caused_event_keeps_the_correlation_id_it_is_given():
    correlation = str(uuid.uuid4())
    document = build(
        "bank",
        "payment_received",
        payment(),
        occurred_at=NOW,
        correlation_id=correlation,
        causation_id=str(uuid.uuid4()),
    )
    assert document["correlation_id"] == correlation


def test_parse_returns_strict_python_values():
    event = parse(encode(envelope()))

    assert event.payload["amount_fen"] == 1250
    assert event.payload["received_at"] == NOW
    assert event.occurred_at == NOW


@pytest.mark.parametrize("amount", [12.5, "12", True, None])
def test_an_amount_that_is_not_a_json_integer_is_malformed(amount):
    body = envelope(payload=json.loads(encode(envelope()))["payload"] | {"amount_fen": amount})
    with pytest.raises(MalformedMessage, match=r"payload\.amount_fen"):
        parse(json.dumps(body))


@pytest.mark.parametrize(
    "stamp", ["2026-11-27T05:40:00", "2026-11-27T13:40:00+08:00", "2026-11-27", "yesterday"]
)
def test_a_time_that_is_not_utc_with_z_is_malformed(stamp):
    with pytest.raises(MalformedMessage, match="occurred_at: Not a UTC time"):
        parse(json.dumps(envelope(occurred_at=stamp)))


def test_every_problem_is_reported_at_once():
    body = envelope(occurred_at="naive")
    body["payload"].pop("bank_txn_id")
    with pytest.raises(MalformedMessage) as caught:
        parse(json.dumps(body))
    assert "occurred_at" in caught.value.reason
    assert "payload.bank_txn_id: Missing data" in caught.value.reason


def test_a_body_that_is_not_json_is_malformed():
    with pytest.raises(MalformedMessage, match="body: not valid JSON"):
        parse(b"\xff{not json")


def test_an_unknown_type_and_an_unknown_version_are_named():
    with pytest.raises(UnknownEvent, match="type: no event 'refund_received'"):
        parse(json.dumps(envelope(type="refund_received")))
    with pytest.raises(UnknownEvent, match="version: bank/payment_received has no version 3"):
        parse(json.dumps(envelope(version=3)))


def test_unknown_envelope_fields_are_refused_but_unknown_payload_fields_are_tolerated():
    with pytest.raises(MalformedMessage, match="colour"):
        parse(json.dumps(envelope(colour="red")))
    body = envelope()
    body["payload"]["added_later"] = "an optional field of a newer publisher"
    assert "added_later" not in parse(json.dumps(body)).payload


def test_a_service_cannot_emit_an_event_that_breaks_the_contract():
    with pytest.raises(ContractViolation, match="amount_fen"):
        validate_outgoing("bank", "payment_received", payment(amount_fen=12.5))
    with pytest.raises(ContractViolation, match="not in the contract"):
        validate_outgoing("bank", "payment_received", payment(surprise=1))
    with pytest.raises(ContractViolation, match="no event"):
        validate_outgoing("bank", "refund_received", payment())


def test_a_naive_datetime_cannot_be_emitted():
    with pytest.raises(ContractViolation):
        validate_outgoing(
            "bank", "payment_received", payment(received_at=datetime(2026, 11, 27, 5, 40))
        )


def test_other_offsets_are_converted_to_utc_on_the_way_out():
    shanghai = timezone(timedelta(hours=8))
    document = validate_outgoing(
        "bank",
        "payment_received",
        payment(received_at=datetime(2026, 11, 27, 13, 40, tzinfo=shanghai)),
    )
    assert document["received_at"] == "2026-11-27T05:40:00Z"


def test_every_ingress_event_of_the_design_is_registered():
    keys = {(spec.key.source, spec.key.type) for spec in REGISTRY}
    assert {
        ("portal", "application_submitted"),
        ("gov", "review_decided"),
        ("portal", "documents_supplied"),
        ("portal", "service_requested"),
        ("portal", "ticket_rated"),
        ("portal", "buyback_requested"),
        ("bank", "payment_received"),
        ("meters", "reading_recorded"),
        ("firms", "work_accepted"),
        ("firms", "work_declined"),
        ("firms", "work_progressed"),
        ("firms", "work_completed"),
    } <= keys


def test_a_meter_reading_is_a_decimal_string():
    payload = {
        "meter_id": "M-1",
        "unit_id": "B07-2F-03",
        "kind": "water",
        "reading": Decimal("1234.5"),
        "read_at": NOW,
    }
    assert validate_outgoing("meters", "reading_recorded", payload)["reading"] == "1234.5"
    with pytest.raises(ContractViolation):
        validate_outgoing("meters", "reading_recorded", payload | {"reading": 1234.5})


def test_a_booleans_must_be_json_booleans():
    payload = {
        "application_id": str(uuid.uuid4()),
        "enterprise": {
            "name": "郑州某机械有限公司",
            "uscc": "x",
            "legal_representative": "张三",
            "contact_phone": "13800000000",
            "industry_code": "C3464",
            "employees": 25,
        },
        "tenure": "purchase",
        "requested_units": ["B07-2F-03"],
        "documents": [],
        "supply_chain_partner": "yes",
    }
    with pytest.raises(ContractViolation, match="supply_chain_partner"):
        validate_outgoing("portal", "application_submitted", payload)
    assert validate_outgoing(
        "portal", "application_submitted", payload | {"supply_chain_partner": True}
    )


def test_dates_are_iso_dates():
    from shared.contract.fields import IsoDate

    assert IsoDate().deserialize("2026-10-01") == date(2026, 10, 1)
