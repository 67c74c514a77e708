"""Invoices: numbers, issue, states, overdue, never edited after issue, credit notes."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.billing.domain.charges import Charge
from services.billing.domain.errors import IllegalInvoiceTransition, Refused
from services.billing.domain.invoices import (
    InvoiceStatus,
    format_invoice_number,
    parse_invoice_number,
    validate_prefix,
)
from services.billing.domain.ledger import VAT_PAYABLE, balances
from services.billing.domain.proration import Month
from services.billing.domain.vat import Category
from services.billing.tests.unit.builders import AT, TERMS, Ids, account, bill, leased


def test_an_invoice_number_is_prefix_year_and_a_six_digit_counter():
    assert format_invoice_number("AUX", 2026, 123) == "AUX-2026-000123"
    assert parse_invoice_number("AUX-2026-000123") == ("AUX", 2026, 123)


@pytest.mark.parametrize(
    ("prefix", "year", "counter"),
    [
        ("aux", 2026, 1),
        ("", 2026, 1),
        ("A-B", 2026, 1),
        ("AUX", 1999, 1),
        ("AUX", 2026, 0),
        ("AUX", 2026, 1_000_000),
        ("AUX", 2026, True),
        ("TOOLONGPREFIX", 2026, 1),
    ],
)
def test_an_invalid_prefix_year_or_counter_is_not_formatted(prefix, year, counter):
    with pytest.raises(ValueError):
        format_invoice_number(prefix, year, counter)


@given(st.text(max_size=30))
def test_only_well_formed_numbers_parse(text):
    try:
        prefix, year, counter = parse_invoice_number(text)
    except ValueError:
        return
    assert format_invoice_number(prefix, year, counter) == text


def test_a_park_prefix_is_validated():
    assert validate_prefix("AUX2") == "AUX2"
    with pytest.raises(ValueError):
        validate_prefix("2AUX")


def issued_rent_invoice():
    acct, ids = account(), Ids()
    acct.allocate_units([leased(held_from=date(2026, 11, 1))], TERMS)
    invoice = bill(acct, ids, Month(2026, 11), issued_on=date(2026, 11, 1))
    return acct, ids, invoice


def test_issuing_numbers_the_invoice_and_sets_due_on_from_the_policy():
    acct, _ids, invoice = issued_rent_invoice()
    assert invoice.status is InvoiceStatus.ISSUED
    assert invoice.number == "AUX-2026-000001"
    assert invoice.due_on == date(2026, 12, 1)
    # rent 450,000 (9 %: 37,156 tax) + property fee 45,000 (6 %: 2,547 tax)
    assert (invoice.total_fen, invoice.tax_fen) == (495_000, 39_703)
    [issued] = [e for e in acct.events if e.event_type == "invoice_issued"]
    assert (issued.total_fen, issued.tax_fen, issued.due_on) == (495_000, 39_703, date(2026, 12, 1))


def test_an_issued_invoice_is_never_issued_again():
    _acct, ids, invoice = issued_rent_invoice()
    with pytest.raises(IllegalInvoiceTransition):
        invoice.issue(ids.number(), date(2026, 11, 2), 30)


def test_the_cycle_run_twice_drafts_nothing_the_second_time():
    acct, ids, _invoice = issued_rent_invoice()
    assert bill(acct, ids, Month(2026, 11)) is None
    assert len(acct.invoices) == 1


def test_an_invoice_is_overdue_only_after_its_due_date_and_reported_once():
    acct, _ids, invoice = issued_rent_invoice()
    assert not invoice.is_overdue(date(2026, 12, 1))
    assert acct.mark_overdue(date(2026, 12, 1), AT) == []
    assert acct.mark_overdue(date(2026, 12, 2), AT) == [invoice]
    assert acct.mark_overdue(date(2026, 12, 3), AT) == []
    assert [e.event_type for e in acct.events].count("invoice_overdue") == 1


def test_a_credit_note_reduces_what_is_owed_and_is_bounded_by_what_is_not_yet_credited():
    acct, ids, invoice = issued_rent_invoice()
    note = acct.issue_credit_note(ids(), invoice.invoice_id, 100_000, "rent reduced", AT, by="ops")
    assert invoice.outstanding_fen == 395_000
    assert note.lines[0].category is Category.RENT
    with pytest.raises(Refused) as caught:
        acct.issue_credit_note(ids(), invoice.invoice_id, 395_001, "too much", AT)
    assert caught.value.reason == "credit_exceeds_invoice"
    acct.issue_credit_note(ids(), invoice.invoice_id, 395_000, "the rest", AT)
    assert invoice.status is InvoiceStatus.PAID and invoice.outstanding_fen == 0


def test_crediting_a_whole_invoice_in_pieces_leaves_no_vat_residue():
    acct, ids, invoice = issued_rent_invoice()
    for _ in range(3):
        acct.issue_credit_note(ids(), invoice.invoice_id, 1, "piece", AT)
    acct.issue_credit_note(ids(), invoice.invoice_id, invoice.creditable_fen, "rest", AT)
    assert balances(acct.postings).get(VAT_PAYABLE, 0) == 0


def test_a_credit_note_on_a_paid_invoice_becomes_credit_balance():
    from services.billing.domain.payments import Payment

    acct, ids, invoice = issued_rent_invoice()
    acct.apply_payment(
        Payment(bank_txn_id="b1", payer_uscc=acct.uscc, amount_fen=495_000, received_at=AT), AT
    )
    acct.issue_credit_note(ids(), invoice.invoice_id, 5_000, "discount", AT)
    assert acct.credit_balance_fen == 5_000


def test_a_credit_note_needs_a_reason_and_valid_lines():
    acct, ids, invoice = issued_rent_invoice()
    with pytest.raises(Refused):
        acct.issue_credit_note(ids(), invoice.invoice_id, 10, " ", AT)
    with pytest.raises(Refused):
        acct.issue_credit_note(ids(), invoice.invoice_id, 10, "x", AT, line_amounts={1: 9})
    with pytest.raises(Refused):
        acct.issue_credit_note(ids(), invoice.invoice_id, 45_001, "x", AT, line_amounts={1: 45_001})
    with pytest.raises(Refused):
        acct.issue_credit_note(ids(), invoice.invoice_id, 0, "x", AT)


def test_a_draft_with_nothing_left_to_bill_is_not_made():
    acct = account()
    charge = Charge(
        category=Category.SERVICE,
        description="free",
        quantity="1",
        unit_price_fen=0,
        total_fen=0,
        source="service:t",
    )
    assert acct.draft_invoice("i", [charge], TERMS) is None


def test_an_invoice_number_must_be_of_the_parks_prefix_and_the_issue_year():
    acct, ids = account(), Ids()
    acct.allocate_units([leased(held_from=date(2026, 11, 1))], TERMS)
    draft = acct.draft_invoice(ids(), acct.charges_for(Month(2026, 11), TERMS), TERMS)
    for wrong in ("AUX-2025-000001", "ZZZ-2026-000001"):
        with pytest.raises(Refused) as caught:
            acct.issue_invoice(draft.invoice_id, wrong, date(2026, 11, 1), TERMS, AT)
        assert caught.value.reason == "invalid_invoice_number"
    assert draft.status is InvoiceStatus.DRAFT and acct.events == [] and acct.postings == []


def test_an_invoice_number_with_non_ascii_digits_is_not_one():
    with pytest.raises(ValueError):
        parse_invoice_number("AUX-٢٠٢٦-000001")
