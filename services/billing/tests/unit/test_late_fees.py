"""Late fees (违约金): daily rate on overdue principal, once per invoice per cycle, capped,
charged on the next cycle, waivable with an audited reason."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from services.billing.domain.charges import Charge, property_fee_charge
from services.billing.domain.errors import Refused
from services.billing.domain.invoices import InvoiceStatus
from services.billing.domain.late_fees import accrued_late_fee, late_fee_accrual, record_waiver
from services.billing.domain.proration import Month
from services.billing.domain.terms import BillingTerms
from services.billing.domain.vat import Category
from services.billing.tests.unit.builders import AT, TERMS, Ids, issued, purchased


def property_fee_invoice(terms: BillingTerms = TERMS):
    """A purchased unit's November property fee (45,000) on its own invoice, due 2026-12-01."""
    fee = property_fee_charge(purchased(held_from=date(2026, 11, 1)), Month(2026, 11))
    invoice = issued(Ids(), [fee], date(2026, 11, 1), terms)
    assert (invoice.total_fen, invoice.due_on) == (45_000, date(2026, 12, 1))
    return invoice


def charged(invoice, accrual, through: date):
    """Record a cycle's late fee on the invoice as the cycle does (``handlers.late_fees``:
    ``late_fee_through``, and the fees charged so far for the cap)."""
    invoice.late_fee_through = through
    invoice.late_fee_charged_fen += accrual.fee_fen
    return accrual


def test_45000_fen_60_days_past_due_accrues_1350_fen():
    invoice = property_fee_invoice()
    assert accrued_late_fee(invoice, date(2026, 12, 1) + timedelta(days=60), TERMS) == (1_350, 60)


def test_nothing_accrues_on_or_before_the_due_date():
    invoice = property_fee_invoice()
    assert accrued_late_fee(invoice, date(2026, 12, 1), TERMS) == (0, 0)


def test_each_day_is_accrued_once_from_the_last_cycle_that_charged_it():
    invoice = property_fee_invoice()
    first = late_fee_accrual(invoice, date(2027, 1, 1), TERMS)  # 31 days: 697.5 → 698
    assert (first.fee_fen, first.days, first.principal_fen) == (698, 31, 45_000)
    charged(invoice, first, date(2027, 1, 1))
    assert accrued_late_fee(invoice, date(2027, 1, 1), TERMS) == (0, 0)
    assert accrued_late_fee(invoice, date(2027, 2, 1), TERMS) == (698, 31)  # 31 more days


def test_late_fees_never_exceed_the_cap():
    terms = BillingTerms(late_fee_daily_rate=Decimal("0.1"), late_fee_cap_ratio=Decimal("0.25"))
    invoice = property_fee_invoice(terms)
    first = charged(invoice, late_fee_accrual(invoice, date(2026, 12, 3), terms), date(2026, 12, 3))
    second = late_fee_accrual(invoice, date(2027, 1, 3), terms)  # capped at 11,250 in all
    assert (first.fee_fen, first.capped) == (9_000, False)  # 2 days × 10 %
    assert (second.fee_fen, second.capped) == (2_250, True)
    charged(invoice, second, date(2027, 1, 3))
    assert accrued_late_fee(invoice, date(2027, 3, 3), terms) == (0, 0)


def test_the_default_cap_is_the_principal():
    invoice = property_fee_invoice()
    assert accrued_late_fee(invoice, date(2035, 1, 1), TERMS)[0] == 45_000


def test_a_partial_payment_reduces_the_principal_that_accrues():
    invoice = property_fee_invoice()
    invoice.paid_fen += 15_000
    assert accrued_late_fee(invoice, date(2027, 1, 30), TERMS)[0] == 900  # 30,000 × 0.0005 × 60


def paid(invoice, on: date, amount_fen: int):
    """The invoice as it stands once ``amount_fen`` was paid on ``on`` (and that settlement)."""
    invoice.paid_fen += amount_fen
    return [(on, amount_fen)]


def test_an_invoice_paid_twelve_days_late_before_the_cycle_owes_twelve_days():
    invoice = property_fee_invoice()  # 45,000 due 2026-12-01
    settlements = paid(invoice, date(2026, 12, 13), 45_000)
    # 45,000 × 0.05 % × 12 = 270: the days Dec 1 … Dec 12, none after the payment
    assert accrued_late_fee(invoice, date(2027, 1, 1), TERMS, settlements) == (270, 12)
    # without the dated payment there is nothing left to see: what the cycle used to do
    assert accrued_late_fee(invoice, date(2027, 1, 1), TERMS) == (0, 0)


def test_a_part_payment_lowers_the_principal_from_its_day_and_rounds_once():
    invoice = property_fee_invoice()
    settlements = paid(invoice, date(2026, 12, 11), 30_001)
    # 10 days × 45,000 + 21 days × 14,999 = 764,979 fen-days × 0.0005 = 382.4895 → 382
    assert accrued_late_fee(invoice, date(2027, 1, 1), TERMS, settlements) == (382, 31)


def test_a_payment_dated_after_the_cycle_does_not_lower_the_cycles_days():
    invoice = property_fee_invoice()
    settlements = paid(invoice, date(2027, 1, 5), 45_000)
    assert accrued_late_fee(invoice, date(2027, 1, 1), TERMS, settlements) == (698, 31)


def test_a_payment_before_the_due_date_leaves_nothing_to_accrue():
    invoice = property_fee_invoice()
    settlements = paid(invoice, date(2026, 11, 20), 45_000)
    assert accrued_late_fee(invoice, date(2027, 1, 1), TERMS, settlements) == (0, 0)


def test_late_fees_do_not_compound():
    fee = Charge(
        category=Category.LATE_FEE,
        description="late fee",
        quantity="31",
        unit_price_fen=698,
        total_fen=698,
        source="late_fee:x",
        ref_invoice_id="overdue",
    )
    fee_invoice = issued(Ids(), [fee], date(2027, 1, 1), rate=Decimal("0.06"))
    assert accrued_late_fee(fee_invoice, date(2027, 6, 1), TERMS) == (0, 0)


def test_a_waiver_is_audited_and_stops_accrual():
    invoice = property_fee_invoice()
    record_waiver(invoice, "ops-li", "bank outage on the due date", AT)
    assert (
        invoice.late_fee_waived_by,
        invoice.late_fee_waived_reason,
        invoice.late_fee_waived_at,
    ) == ("ops-li", "bank outage on the due date", AT)
    assert accrued_late_fee(invoice, date(2027, 6, 1), TERMS) == (0, 0)
    assert invoice.status is InvoiceStatus.ISSUED  # the principal is still owed


def test_a_waiver_needs_an_operator_and_a_reason_and_happens_once():
    invoice = property_fee_invoice()
    for by, reason in (("ops-li", "  "), ("", "goodwill"), ("ops-li", "x" * 501)):
        with pytest.raises(Refused) as caught:
            record_waiver(invoice, by, reason, AT)
        assert caught.value.reason == "invalid_waiver"
    record_waiver(invoice, "ops-li", "goodwill", AT)
    with pytest.raises(Refused) as caught:
        record_waiver(invoice, "ops-li", "again", AT)
    assert caught.value.reason == "already_waived"
