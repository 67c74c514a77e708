"""Payments: referenced invoice, oldest due first, overpayment → credit balance used by
the next invoice, exactly once per bank_txn_id, suspense then operator match."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.billing.domain.charges import Charge, property_fee_charge, rent_charge
from services.billing.domain.errors import Refused
from services.billing.domain.payments import (
    Payment,
    SuspenseItem,
    SuspenseStatus,
    allocate,
    match_suspense_item,
)
from services.billing.domain.proration import Month
from services.billing.domain.vat import Category
from services.billing.tests.unit.builders import AT, USCC, Ids, issued, leased


def two_invoices():
    """October's and November's rent and property fee of a leased room, each issued on
    the first of its month (495,000 fen each)."""
    ids, room = Ids(), leased(held_from=date(2026, 10, 1))
    october, november = (
        issued(ids, [rent_charge(room, month), property_fee_charge(room, month)], month.first_day)
        for month in (Month(2026, 10), Month(2026, 11))
    )
    return october, november


def pay(amount: int, txn: str = "b1", reference: str = "") -> Payment:
    return Payment(
        bank_txn_id=txn, payer_uscc=USCC, amount_fen=amount, received_at=AT, reference=reference
    )


def test_a_payment_goes_to_the_referenced_invoice_first():
    october, november = two_invoices()
    plan, remainder = allocate(495_000, [october, november], november.number)
    assert (plan, remainder) == ([(november, 495_000)], 0)


def test_without_a_usable_reference_the_oldest_due_is_paid_first():
    october, november = two_invoices()
    plan, remainder = allocate(600_000, [november, october], "AUX-2026-999999")
    assert (plan, remainder) == ([(october, 495_000), (november, 105_000)], 0)


def test_what_no_open_invoice_takes_is_the_remainder():
    october, november = two_invoices()
    plan, remainder = allocate(1_000_000, [october, november], "")
    assert [take for _invoice, take in plan] == [495_000, 495_000] and remainder == 10_000


def test_a_payment_must_be_a_positive_bounded_int():
    for amount in (0, -1, 10**16):
        with pytest.raises(Refused):
            pay(amount)
    with pytest.raises(TypeError):
        pay(1.5)


def test_an_unknown_payer_waits_in_suspense_until_an_operator_matches_it_once():
    item = SuspenseItem(payment=pay(495_000, txn="b9"), why="unknown_payer")
    payment = match_suspense_item(item, "ent-1", "ops-li", AT)
    assert (item.status, item.matched_by) == (SuspenseStatus.MATCHED, "ops-li")
    assert (payment.bank_txn_id, payment.amount_fen) == ("b9", 495_000)
    with pytest.raises(Refused):
        match_suspense_item(item, "ent-1", "ops-li", AT)


@given(
    outstanding=st.lists(st.integers(1, 10**7), min_size=0, max_size=8),
    amount=st.integers(1, 10**8),
    referenced=st.integers(0, 9),
)
def test_an_allocation_never_loses_or_invents_a_fen(outstanding, amount, referenced):
    ids, invoices = Ids(), []
    for index, total in enumerate(outstanding):
        charge = Charge(
            category=Category.SERVICE,
            description="s",
            quantity="1",
            unit_price_fen=total,
            total_fen=total,
            source=f"service:{index}",
        )
        invoices.append(issued(ids, [charge], date(2026, 1, 1 + index)))
    reference = invoices[referenced].number if referenced < len(invoices) else ""
    plan, remainder = allocate(amount, invoices, reference)
    assert sum(take for _inv, take in plan) + remainder == amount
    assert all(0 < take <= inv.outstanding_fen for inv, take in plan)
    assert remainder == 0 or len(plan) == len(invoices)
    if reference and plan:
        assert plan[0][0].number == reference
    rest = [inv.due_on for inv, _take in plan if inv.number != reference]
    assert rest == sorted(rest)
