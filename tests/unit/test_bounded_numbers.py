"""Numbers from outside are bounded at the contract: an amount, a count or a decimal no
bank, meter, portal or firm could send (beyond what a database BIGINT or the services'
columns hold) is malformed input — refused with a readable reason when parsed, never an
overflow in a database retried along the whole retry ladder."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from marshmallow import Schema, ValidationError

from shared.contract.fields import (
    DECIMAL_MAX_LENGTH,
    MAX_FEN,
    MAX_METER_READING,
    DecimalString,
    Fen,
    StrictInteger,
)
from shared.contract.ingress import PaymentReceived, ReadingRecorded
from shared.contract.onboarding import AllocatedUnitSchema
from shared.limits import MAX_UNIT_AREA_M2

BIGINT = 2**63 - 1


class Amounts(Schema):
    paid = Fen(required=True, minimum=1)
    net = StrictInteger(required=True)
    count = StrictInteger(required=True, minimum=0)
    ratio = DecimalString(required=True)


def load(**fields):
    return Amounts().load({"paid": 1, "net": 0, "count": 0, "ratio": "1", **fields})


def test_the_bounds_leave_room_for_sums_in_a_bigint():
    assert MAX_FEN == 10**15  # ten trillion yuan: no single amount in any park comes near
    assert 9_000 * MAX_FEN < BIGINT  # a sum of thousands of them still fits


@pytest.mark.parametrize("field", ["paid", "net", "count"])
@pytest.mark.parametrize("value", [MAX_FEN + 1, 2**63, 10**30])
def test_an_integer_beyond_the_bound_is_refused_naming_it(field, value):
    with pytest.raises(ValidationError) as refused:
        load(**{field: value})
    assert field in refused.value.messages


@pytest.mark.parametrize("field", ["net", "count"])
def test_a_negative_integer_beyond_the_bound_is_refused(field):
    with pytest.raises(ValidationError):
        load(**{field: -MAX_FEN - 1})


def test_the_bound_itself_and_a_negative_net_are_accepted():
    assert load(paid=MAX_FEN, net=-MAX_FEN, count=MAX_FEN)["net"] == -MAX_FEN


@pytest.mark.parametrize(
    "text", ["1" * (DECIMAL_MAX_LENGTH + 1), "0." + "0" * DECIMAL_MAX_LENGTH + "1"]
)
def test_a_decimal_string_longer_than_any_column_is_refused(text):
    with pytest.raises(ValidationError) as refused:
        load(ratio=text)
    assert "ratio" in refused.value.messages


def test_a_meter_reading_beyond_any_meter_is_refused():
    base = {
        "meter_id": "E-1",
        "unit_id": "B01-1F-01",
        "kind": "electricity",
        "read_at": "2026-11-27T02:00:00Z",
    }
    assert ReadingRecorded().load({**base, "reading": str(MAX_METER_READING)})["reading"] == (
        MAX_METER_READING
    )
    with pytest.raises(ValidationError) as refused:
        ReadingRecorded().load({**base, "reading": str(MAX_METER_READING + 1)})
    assert "reading" in refused.value.messages


@given(st.integers(min_value=MAX_FEN + 1) | st.integers(max_value=0))
def test_no_payment_amount_outside_one_fen_to_the_bound_is_taken(amount):
    payload = {
        "bank_txn_id": "BANK-1",
        "payer_uscc": "91410100000000019L",
        "amount_fen": amount,
        "received_at": "2026-11-27T02:00:00Z",
        "reference": "",
    }
    with pytest.raises(ValidationError):
        PaymentReceived().load(payload)


@given(st.decimals(allow_nan=False, allow_infinity=False, places=3, min_value=0, max_value=10**20))
def test_every_decimal_taken_fits_the_columns(number):
    text = f"{number:f}"
    try:
        taken = load(ratio=text)["ratio"]
    except ValidationError:
        assert len(text) > DECIMAL_MAX_LENGTH
    else:
        assert taken == Decimal(text) and len(text) <= DECIMAL_MAX_LENGTH


@pytest.mark.parametrize("area", [MAX_UNIT_AREA_M2 + 1, 2**31, MAX_FEN])
def test_a_unit_area_beyond_a_square_kilometre_is_refused_naming_it(area):
    # Billing and onboarding keep a unit's area in a 32-bit column: 2^31 m² would overflow
    # there and be retried along the ladder instead of dead-lettered with its field.
    unit = {
        "unit_id": "B01-1F-01",
        "area_m2": area,
        "tenure": "purchase",
        "price_fen": 1,
        "monthly_rent_fen": None,
        "monthly_property_fee_fen": 1,
        "contract_id": "C-1",
    }
    with pytest.raises(ValidationError) as refused:
        AllocatedUnitSchema().load(unit)
    assert "area_m2" in refused.value.messages
    assert AllocatedUnitSchema().load({**unit, "area_m2": MAX_UNIT_AREA_M2})["area_m2"] > 0
