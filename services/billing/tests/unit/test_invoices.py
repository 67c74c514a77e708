"""Invoices: numbers, issue, states, overdue, never edited after issue, credit notes."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.billing.domain.charges import Charge, property_fee_charge, rent_charge
from services.billing.domain.errors import IllegalInvoiceTransition, Refused
from services.billing.domain.invoices import (
    CreditNote,
    Invoice,
    InvoiceStatus,
    credit_lines,
    format_invoice_number,
    line_for,
    parse_invoice_number,
    release_credit_fen,
    validate_prefix,
)
from services.billing.domain.proration import Month
from services.billing.domain.vat import Category
from services.billing.tests.unit.builders import AT, TERMS, USCC, Ids, issued, leased


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
    """November's rent and property fee of a leased room, issued on 1 November."""
    ids, room = Ids(), leased(held_from=date(2026, 11, 1))
    november = Month(2026, 11)
    charges = [rent_charge(room, november), property_fee_charge(room, november)]
    return ids, issued(ids, charges, date(2026, 11, 1))


def credit(invoice, amount_fen, line_amounts=None, reason="fix"):
    """A credit note on ``invoice`` as the domain makes it; returns it and what it
    credited beyond what was outstanding (the account's credit balance)."""
    lines = credit_lines(invoice, amount_fen, line_amounts)
    note = CreditNote(
        credit_note_id="cn",
        invoice_id=invoice.invoice_id,
        amount_fen=amount_fen,
        tax_fen=sum(line.tax_fen for line in lines),
        reason=reason,
        lines=lines,
        issued_at=AT,
    )
    excess, _paid = invoice.apply_credit(note)
    return note, excess


def test_issuing_numbers_the_invoice_and_sets_due_on_from_the_policy():
    _ids, invoice = issued_rent_invoice()
    assert invoice.status is InvoiceStatus.ISSUED
    assert invoice.number == "AUX-2026-000001"
    assert invoice.due_on == date(2026, 12, 1)
    # rent 450,000 (9 %: 37,156 tax) + property fee 45,000 (6 %: 2,547 tax)
    assert (invoice.total_fen, invoice.tax_fen) == (495_000, 39_703)


def test_an_issued_invoice_is_never_issued_again():
    ids, invoice = issued_rent_invoice()
    with pytest.raises(IllegalInvoiceTransition):
        invoice.issue(ids.number(), date(2026, 11, 2), 30)


def test_an_invoice_is_overdue_only_after_its_due_date_while_something_is_owed():
    _ids, invoice = issued_rent_invoice()
    assert not invoice.is_overdue(date(2026, 12, 1))
    assert invoice.is_overdue(date(2026, 12, 2))
    invoice.receive(495_000)
    assert not invoice.is_overdue(date(2026, 12, 2))


def test_a_credit_note_reduces_what_is_owed_and_is_bounded_by_what_is_not_yet_credited():
    _ids, invoice = issued_rent_invoice()
    note, _excess = credit(invoice, 100_000)
    assert invoice.outstanding_fen == 395_000
    assert note.lines[0].category is Category.RENT
    with pytest.raises(Refused) as caught:
        credit(invoice, 395_001)
    assert caught.value.reason == "credit_exceeds_invoice"
    credit(invoice, 395_000)
    assert invoice.status is InvoiceStatus.PAID and invoice.outstanding_fen == 0


def test_crediting_a_whole_invoice_in_pieces_leaves_no_vat_residue():
    _ids, invoice = issued_rent_invoice()
    notes = [credit(invoice, 1)[0] for _ in range(3)]
    notes.append(credit(invoice, invoice.creditable_fen)[0])
    assert sum(note.tax_fen for note in notes) == invoice.tax_fen


def test_a_credit_note_on_a_paid_invoice_becomes_credit_balance():
    _ids, invoice = issued_rent_invoice()
    invoice.receive(495_000)
    _note, excess = credit(invoice, 5_000)
    assert excess == 5_000


def test_a_credit_note_needs_valid_lines():
    _ids, invoice = issued_rent_invoice()
    with pytest.raises(Refused):
        credit(invoice, 10, line_amounts={1: 9})  # the lines do not sum to the amount
    with pytest.raises(Refused):
        credit(invoice, 45_001, line_amounts={1: 45_001})  # more than the line
    with pytest.raises(Refused):
        credit(invoice, 10, line_amounts={2: 10})  # no such line
    with pytest.raises(Refused):
        credit(invoice, 0)


def test_an_invoice_has_lines_and_is_not_issued_for_nothing():
    with pytest.raises(ValueError):
        Invoice(invoice_id="i", enterprise_id="ent-1", uscc=USCC, lines=())
    free = Charge(
        category=Category.SERVICE,
        description="free",
        quantity="1",
        unit_price_fen=0,
        total_fen=0,
        source="service:t",
    )
    with pytest.raises(Refused) as caught:
        issued(Ids(), [free], date(2026, 11, 1))
    assert caught.value.reason == "empty_invoice"


def test_an_invoice_number_must_be_of_the_issue_year():
    room, november = leased(held_from=date(2026, 11, 1)), Month(2026, 11)
    draft = Invoice(
        invoice_id="i",
        enterprise_id="ent-1",
        uscc=USCC,
        lines=(line_for(rent_charge(room, november), TERMS.vat_rates[Category.RENT]),),
    )
    for wrong in ("AUX-2025-000001", "AUX-2026-000000", "AUX-2026-1"):
        with pytest.raises(Refused) as caught:
            draft.issue(wrong, date(2026, 11, 1), TERMS.payment_due_days)
        assert caught.value.reason == "invalid_invoice_number"
    assert draft.status is InvoiceStatus.DRAFT and draft.number is None


def test_an_invoice_number_with_non_ascii_digits_is_not_one():
    with pytest.raises(ValueError):
        parse_invoice_number("AUX-٢٠٢٦-000001")


def test_a_release_credits_the_days_after_it_never_more_than_is_left_on_the_line():
    # rent 450,000 of November released on the 21st: 20 of 30 days kept (300,000)
    assert release_credit_fen(450_000, 300_000, 0, 450_000) == 150_000
    # the same release again: what it credited is subtracted, nothing more
    assert release_credit_fen(450_000, 300_000, 150_000, 300_000) == 0
    # after an operator credited 400,000, released on the 11th (kept 150,000): only the
    # 50,000 left on the line
    assert release_credit_fen(450_000, 150_000, 0, 50_000) == 50_000
    # released on the 21st, then again earlier, on the 6th (kept 75,000): the days
    # between, not again those the first release credited
    assert release_credit_fen(450_000, 75_000, 150_000, 300_000) == 225_000
    # … and never more than is left on the line
    assert release_credit_fen(450_000, 75_000, 150_000, 100_000) == 100_000
