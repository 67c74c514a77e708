"""Payments: referenced invoice, oldest due first, overpayment → credit balance used by
the next invoice, exactly once per bank_txn_id, suspense then operator match."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.billing.domain.charges import Charge
from services.billing.domain.errors import Refused
from services.billing.domain.invoices import InvoiceStatus
from services.billing.domain.payments import (
    Payment,
    SuspenseItem,
    SuspenseStatus,
    allocate,
    match_suspense_item,
)
from services.billing.domain.proration import Month
from services.billing.domain.vat import Category
from services.billing.tests.unit.builders import AT, TERMS, USCC, Ids, account, bill, leased


def two_invoices():
    acct, ids = account(), Ids()
    acct.allocate_units([leased(held_from=date(2026, 10, 1))], TERMS)
    october = bill(acct, ids, Month(2026, 10))
    november = bill(acct, ids, Month(2026, 11))
    return acct, ids, october, november


def pay(amount: int, txn: str = "b1", reference: str = "") -> Payment:
    return Payment(
        bank_txn_id=txn, payer_uscc=USCC, amount_fen=amount, received_at=AT, reference=reference
    )


def test_a_payment_goes_to_the_referenced_invoice_first():
    acct, _ids, october, november = two_invoices()
    acct.apply_payment(pay(495_000, reference=november.number), AT)
    assert november.status is InvoiceStatus.PAID
    assert october.status is InvoiceStatus.ISSUED


def test_without_a_usable_reference_the_oldest_due_is_paid_first():
    acct, _ids, october, november = two_invoices()
    acct.apply_payment(pay(600_000, reference="AUX-2026-999999"), AT)
    assert october.status is InvoiceStatus.PAID
    assert (november.status, november.outstanding_fen) == (InvoiceStatus.PARTIALLY_PAID, 390_000)
    applied = [(e.number, e.amount_fen) for e in acct.events if e.event_type == "payment_applied"]
    assert applied == [(october.number, 495_000), (november.number, 105_000)]


def test_an_overpayment_becomes_credit_that_the_next_invoice_uses_when_issued():
    acct, ids, _october, _november = two_invoices()
    acct.apply_payment(pay(1_000_000), AT)
    assert acct.credit_balance_fen == 10_000
    december = bill(acct, ids, Month(2026, 12))
    assert acct.credit_balance_fen == 0
    assert (december.status, december.outstanding_fen) == (InvoiceStatus.PARTIALLY_PAID, 485_000)
    assert acct.events[-1].event_type == "credit_applied"


def test_the_same_bank_txn_twice_has_no_second_effect():
    acct, _ids, october, _november = two_invoices()
    acct.apply_payment(pay(100_000), AT)
    events = len(acct.events)
    acct.apply_payment(pay(100_000), AT)
    assert october.paid_fen == 100_000 and len(acct.events) == events


def test_the_same_bank_txn_with_other_content_is_a_conflicting_duplicate():
    acct, _ids, _october, _november = two_invoices()
    acct.apply_payment(pay(100_000), AT)
    with pytest.raises(Refused) as caught:
        acct.apply_payment(pay(100_001), AT)
    assert caught.value.reason == "conflicting_duplicate"


def test_a_payment_from_another_payer_is_refused_by_the_account():
    acct, _ids, _o, _n = two_invoices()
    with pytest.raises(Refused):
        acct.apply_payment(
            Payment(bank_txn_id="b", payer_uscc="X", amount_fen=1, received_at=AT), AT
        )


def test_a_payment_must_be_a_positive_bounded_int():
    for amount in (0, -1, 10**16):
        with pytest.raises(Refused):
            pay(amount)
    with pytest.raises(TypeError):
        pay(1.5)


def test_an_unknown_payer_waits_in_suspense_until_an_operator_matches_it():
    acct, _ids, october, _november = two_invoices()
    item = SuspenseItem(payment=pay(495_000, txn="b9"), why="unknown_payer")
    payment = match_suspense_item(item, acct.enterprise_id, "ops-li", AT)
    assert (item.status, item.matched_by) == (SuspenseStatus.MATCHED, "ops-li")
    acct.apply_payment(payment, AT, from_suspense=True)
    assert october.status is InvoiceStatus.PAID
    with pytest.raises(Refused):
        match_suspense_item(item, acct.enterprise_id, "ops-li", AT)


def test_a_matched_suspense_payment_is_applied_although_its_payer_uscc_is_not_the_accounts():
    acct, _ids, october, _november = two_invoices()
    stranger = Payment(
        bank_txn_id="b7", payer_uscc="91000000UNKNOWN00X", amount_fen=495_000, received_at=AT
    )
    payment = match_suspense_item(
        SuspenseItem(payment=stranger, why="unknown_payer"), acct.enterprise_id, "ops", AT
    )
    acct.apply_payment(payment, AT, from_suspense=True)
    assert october.status is InvoiceStatus.PAID


@given(
    outstanding=st.lists(st.integers(1, 10**7), min_size=0, max_size=8),
    amount=st.integers(1, 10**8),
    referenced=st.integers(0, 9),
)
def test_an_allocation_never_loses_or_invents_a_fen(outstanding, amount, referenced):
    acct, ids = account(), Ids()
    invoices = []
    for index, total in enumerate(outstanding):
        charge = Charge(
            category=Category.SERVICE,
            description="s",
            quantity="1",
            unit_price_fen=total,
            total_fen=total,
            source=f"service:{index}",
        )
        draft = acct.draft_invoice(ids(), [charge], TERMS)
        acct.issue_invoice(draft.invoice_id, ids.number(), date(2026, 1, 1 + index), TERMS, AT)
        invoices.append(draft)
    reference = invoices[referenced].number if referenced < len(invoices) else ""
    plan, remainder = allocate(amount, acct.open_invoices(), reference)
    assert sum(take for _inv, take in plan) + remainder == amount
    assert all(0 < take <= inv.outstanding_fen for inv, take in plan)
    assert remainder == 0 or len(plan) == len(invoices)
    if reference and plan:
        assert plan[0][0].number == reference
    rest = [inv.due_on for inv, _take in plan if inv.number != reference]
    assert rest == sorted(rest)
