"""Late fees (违约金): daily rate on overdue principal, once per invoice per cycle, capped,
charged on the next cycle, waivable with an audited reason."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from services.billing.domain.errors import Refused
from services.billing.domain.invoices import InvoiceStatus
from services.billing.domain.late_fees import accrued_late_fee
from services.billing.domain.payments import Payment
from services.billing.domain.proration import Month
from services.billing.domain.terms import BillingTerms
from services.billing.domain.vat import Category
from services.billing.tests.unit.builders import AT, TERMS, USCC, Ids, account, bill, purchased


def property_fee_invoice(terms: BillingTerms = TERMS):
    """A purchased unit's November property fee (45,000) on its own invoice, due 2026-12-01."""
    acct, ids = account(), Ids()
    acct.allocate_units([purchased(held_from=date(2026, 11, 1))], terms)
    for inst in acct.instalments:  # purchase billed elsewhere: keep this invoice simple
        inst.cancelled = True
    invoice = bill(acct, ids, Month(2026, 11), issued_on=date(2026, 11, 1))
    assert (invoice.total_fen, invoice.due_on) == (45_000, date(2026, 12, 1))
    return acct, ids, invoice


def test_45000_fen_60_days_past_due_accrues_1350_fen():
    _acct, _ids, invoice = property_fee_invoice()
    assert accrued_late_fee(invoice, date(2026, 12, 1) + timedelta(days=60), TERMS) == (1_350, 60)


def test_nothing_accrues_on_or_before_the_due_date():
    _acct, _ids, invoice = property_fee_invoice()
    assert accrued_late_fee(invoice, date(2026, 12, 1), TERMS) == (0, 0)


def test_the_fee_is_charged_on_the_next_cycle_and_each_day_only_once():
    acct, ids, invoice = property_fee_invoice()
    [charge] = acct.charge_late_fees(date(2027, 1, 1), TERMS, AT)  # 31 days: 697.5 → 698
    assert (charge.category, charge.total_fen, charge.ref_invoice_id) == (
        Category.LATE_FEE,
        698,
        invoice.invoice_id,
    )
    assert acct.charge_late_fees(date(2027, 1, 1), TERMS, AT) == []
    [second] = acct.charge_late_fees(date(2027, 2, 1), TERMS, AT)  # 31 more days
    assert second.total_fen == 698
    january = bill(acct, ids, Month(2027, 1), issued_on=date(2027, 2, 1))
    fees = [line for line in january.lines if line.category is Category.LATE_FEE]
    assert [f.total_fen for f in fees] == [698, 698]
    # taxed at the overdue invoice's rate (property fee, 6 %): 698 × 0.06 / 1.06 = 39.5… → 40
    assert [(f.vat_rate, f.tax_fen) for f in fees] == [("0.06", 40), ("0.06", 40)]
    assert [e.event_type for e in acct.events].count("late_fee_charged") == 2


def test_late_fees_never_exceed_the_cap():
    terms = BillingTerms(late_fee_daily_rate=Decimal("0.1"), late_fee_cap_ratio=Decimal("0.25"))
    acct, _ids, _invoice = property_fee_invoice(terms)
    [first] = acct.charge_late_fees(date(2026, 12, 3), terms, AT)  # 2 days × 10 % = 9,000
    [second] = acct.charge_late_fees(date(2027, 1, 3), terms, AT)  # capped at 11,250 total
    assert (first.total_fen, second.total_fen) == (9_000, 2_250)
    assert acct.charge_late_fees(date(2027, 3, 3), terms, AT) == []


def test_the_default_cap_is_the_principal():
    _acct, _ids, invoice = property_fee_invoice()
    assert accrued_late_fee(invoice, date(2035, 1, 1), TERMS)[0] == 45_000


def test_a_partial_payment_reduces_the_principal_that_accrues():
    acct, _ids, invoice = property_fee_invoice()
    acct.apply_payment(
        Payment(bank_txn_id="b", payer_uscc=USCC, amount_fen=15_000, received_at=AT), AT
    )
    assert accrued_late_fee(invoice, date(2027, 1, 30), TERMS)[0] == 900  # 30,000 × 0.0005 × 60


def paid(invoice, on: date, amount_fen: int):
    """The invoice as it stands once ``amount_fen`` was paid on ``on`` (and that settlement)."""
    invoice.paid_fen += amount_fen
    return [(on, amount_fen)]


def test_an_invoice_paid_twelve_days_late_before_the_cycle_owes_twelve_days():
    _acct, _ids, invoice = property_fee_invoice()  # 45,000 due 2026-12-01
    settlements = paid(invoice, date(2026, 12, 13), 45_000)
    # 45,000 × 0.05 % × 12 = 270: the days Dec 1 … Dec 12, none after the payment
    assert accrued_late_fee(invoice, date(2027, 1, 1), TERMS, settlements) == (270, 12)
    # without the dated payment there is nothing left to see: what the cycle used to do
    assert accrued_late_fee(invoice, date(2027, 1, 1), TERMS) == (0, 0)


def test_a_part_payment_lowers_the_principal_from_its_day_and_rounds_once():
    _acct, _ids, invoice = property_fee_invoice()
    settlements = paid(invoice, date(2026, 12, 11), 30_001)
    # 10 days × 45,000 + 21 days × 14,999 = 764,979 fen-days × 0.0005 = 382.4895 → 382
    assert accrued_late_fee(invoice, date(2027, 1, 1), TERMS, settlements) == (382, 31)


def test_a_payment_dated_after_the_cycle_does_not_lower_the_cycles_days():
    _acct, _ids, invoice = property_fee_invoice()
    settlements = paid(invoice, date(2027, 1, 5), 45_000)
    assert accrued_late_fee(invoice, date(2027, 1, 1), TERMS, settlements) == (698, 31)


def test_a_payment_before_the_due_date_leaves_nothing_to_accrue():
    _acct, _ids, invoice = property_fee_invoice()
    settlements = paid(invoice, date(2026, 11, 20), 45_000)
    assert accrued_late_fee(invoice, date(2027, 1, 1), TERMS, settlements) == (0, 0)


def test_late_fees_do_not_compound():
    acct, ids, _invoice = property_fee_invoice()
    acct.charge_late_fees(date(2027, 1, 1), TERMS, AT)
    fee_invoice = acct.draft_invoice(ids(), acct.pending_charges, TERMS)
    acct.issue_invoice(fee_invoice.invoice_id, ids.number(2027), date(2027, 1, 1), TERMS, AT)
    assert accrued_late_fee(fee_invoice, date(2027, 6, 1), TERMS) == (0, 0)


def test_a_waiver_is_audited_stops_accrual_and_credits_what_was_charged():
    acct, ids, invoice = property_fee_invoice()
    acct.charge_late_fees(date(2027, 1, 1), TERMS, AT)
    january = bill(acct, ids, Month(2027, 1), issued_on=date(2027, 1, 1))
    before = january.outstanding_fen
    acct.waive_late_fees(invoice.invoice_id, "ops-li", "bank outage on the due date", AT, ids)
    assert (
        invoice.late_fee_waived_by,
        invoice.late_fee_waived_reason,
        invoice.late_fee_waived_at,
    ) == (
        "ops-li",
        "bank outage on the due date",
        AT,
    )
    assert january.outstanding_fen == before - 698
    assert accrued_late_fee(invoice, date(2027, 6, 1), TERMS) == (0, 0)
    waived = acct.events[-1]
    assert (waived.event_type, waived.by, waived.credited_fen) == ("late_fee_waived", "ops-li", 698)
    assert invoice.status is InvoiceStatus.ISSUED  # the principal is still owed


def test_a_waiver_needs_a_reason_and_happens_once():
    acct, ids, invoice = property_fee_invoice()
    with pytest.raises(Refused):
        acct.waive_late_fees(invoice.invoice_id, "ops-li", "  ", AT, ids)
    acct.waive_late_fees(invoice.invoice_id, "ops-li", "goodwill", AT, ids)
    with pytest.raises(Refused):
        acct.waive_late_fees(invoice.invoice_id, "ops-li", "again", AT, ids)


def test_a_waiver_drops_late_fees_charged_but_not_yet_invoiced():
    acct, ids, invoice = property_fee_invoice()
    acct.charge_late_fees(date(2027, 1, 1), TERMS, AT)
    acct.waive_late_fees(invoice.invoice_id, "ops-li", "goodwill", AT, ids)
    january = bill(acct, ids, Month(2027, 1), issued_on=date(2027, 1, 1))
    assert Category.LATE_FEE not in [line.category for line in january.lines]
    assert acct.events[-2].credited_fen == 698  # dropped before it was invoiced
