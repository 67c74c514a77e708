"""Numbers no bank or meter could send — beyond what the database's BIGINT or billing's
columns hold — are refused at the contract: dead-lettered at once with the field and its
bound as the reason, never an overflow in the database retried along the whole ladder
(what a payment of 2^63 fen did before the contract bounded amounts)."""

from __future__ import annotations

import uuid

import pytest

from services.billing.tests.service.test_billing_flow import park_error
from tests.support.broker import wait_for


def refused_at_once(billing, source, type_, valid, field, hostile):
    envelope = billing.envelope(source, type_, valid)
    envelope["payload"][field] = hostile  # what a hostile or broken system sends
    billing.send(envelope)
    [refused] = wait_for(billing.dead_letters, timeout=10, message=f"the {type_} refused")
    assert park_error(refused).startswith(f"payload.{field}: "), park_error(refused)
    assert refused.headers["park-attempts"] == 1, refused.headers  # no retry
    billing.trial_balance_is_zero()


@pytest.mark.parametrize("amount", [10**15 + 1, 2**63, 10**30])
def test_a_payment_beyond_any_real_amount_is_dead_lettered_at_once(billing, amount):
    billing.start()
    payment = {
        "bank_txn_id": f"BANK-{uuid.uuid4().hex[:10]}",
        "payer_uscc": "91410100000000019L",
        "amount_fen": 1,
        "received_at": "2026-11-27T02:00:00Z",
        "reference": "",
    }
    refused_at_once(billing, "bank", "payment_received", payment, "amount_fen", amount)


@pytest.mark.parametrize("reading", ["1" * 41, "1000000000001", "0." + "0" * 45 + "1"])
def test_a_meter_reading_beyond_any_meter_is_dead_lettered_at_once(billing, reading):
    billing.start()
    valid = {
        "meter_id": f"E-{uuid.uuid4().hex[:6]}",
        "unit_id": "B01-1F-01",
        "kind": "electricity",
        "reading": "1",
        "read_at": "2026-11-27T02:00:00Z",
    }
    refused_at_once(billing, "meters", "reading_recorded", valid, "reading", reading)
