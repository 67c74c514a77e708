"""Where a payment goes (:func:`~services.billing.domain.payments.allocate`): the
referenced invoice, then the oldest due, the rest is the remainder (credit balance).
Exactly once per bank_txn_id, suspense and the operator's match are the use cases':
``test_handlers.py``."""

from __future__ import annotations

from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from services.billing.domain.charges import Charge, property_fee_charge, rent_charge
from services.billing.domain.payments import allocate
from services.billing.domain.proration import Month
from services.billing.domain.vat import Category
from services.billing.tests.unit.builders import Ids, issued, leased


def two_invoices():
    """October's and November's rent and property fee of a leased room, each issued on
    the first of its month (495,000 fen each)."""
    ids, room = Ids(), leased(held_from=date(2026, 10, 1))
    october, november = (
        issued(ids, [rent_charge(room, month), property_fee_charge(room, month)], month.first_day)
        for month in (Month(2026, 10), Month(2026, 11))
    )
    return october, november


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
