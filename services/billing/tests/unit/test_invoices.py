"""Invoices: numbers, totals, states and overdue from what was paid and credited, credit
lines, a release's credit. Issuing (numbered, due date, never for nothing, once per key)
and storing a credit note (what it credits beyond the outstanding becoming credit
balance) are the use cases': ``test_handlers.py``."""

from __future__ import annotations

from datetime import date

import pytest

from services.billing.domain.charges import property_fee_charge, rent_charge
from services.billing.domain.errors import Refused
from services.billing.domain.invoices import (
    Invoice,
    InvoiceStatus,
    credit_lines,
    format_invoice_number,
    release_credit_fen,
    validate_prefix,
)
from services.billing.domain.proration import Month
from services.billing.domain.vat import Category
from services.billing.tests.unit.builders import USCC, Ids, issued, leased


def test_an_invoice_number_is_prefix_year_and_a_six_digit_counter():
    assert format_invoice_number("AUX", 2026, 123) == "AUX-2026-000123"


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


def credit(invoice, amount_fen, line_amounts=None):
    """A credit note's lines on ``invoice`` by the domain's rule, recorded on it as the
    handlers record a stored note (``handlers.credits``: what each line lost)."""
    lines = credit_lines(invoice, amount_fen, line_amounts)
    invoice.credited_fen += amount_fen
    for line in lines:
        invoice.credited_per_line[line.line_index] += line.total_fen
        invoice.credited_tax_per_line[line.line_index] += line.tax_fen
        invoice.credited_payable_per_line[line.line_index] += line.payable_fen
    return lines


def test_an_invoice_totals_its_lines_and_is_issued_until_something_is_paid():
    _ids, invoice = issued_rent_invoice()
    assert invoice.status is InvoiceStatus.ISSUED
    # rent 450,000 (9 %: 37,156 tax) + property fee 45,000 (6 %: 2,547 tax)
    assert (invoice.total_fen, invoice.tax_fen) == (495_000, 39_703)
    invoice.paid_fen += 1
    assert invoice.status is InvoiceStatus.PARTIALLY_PAID and invoice.is_open
    invoice.paid_fen += 494_999
    assert invoice.status is InvoiceStatus.PAID and not invoice.is_open


def test_an_invoice_is_overdue_only_after_its_due_date_while_something_is_owed():
    _ids, invoice = issued_rent_invoice()
    assert not invoice.is_overdue(date(2026, 12, 1))
    assert invoice.is_overdue(date(2026, 12, 2))
    invoice.paid_fen += 495_000
    assert not invoice.is_overdue(date(2026, 12, 2))


def test_a_credit_note_reduces_what_is_owed_and_is_bounded_by_what_is_not_yet_credited():
    _ids, invoice = issued_rent_invoice()
    lines = credit(invoice, 100_000)
    assert invoice.outstanding_fen == 395_000
    assert [(line.category, line.total_fen) for line in lines] == [(Category.RENT, 100_000)]
    with pytest.raises(Refused) as caught:
        credit(invoice, 395_001)
    assert caught.value.reason == "credit_exceeds_invoice"
    credit(invoice, 395_000)
    assert invoice.status is InvoiceStatus.PAID and invoice.outstanding_fen == 0


def test_crediting_a_whole_invoice_in_pieces_leaves_no_vat_residue():
    _ids, invoice = issued_rent_invoice()
    notes = [credit(invoice, 1) for _ in range(3)]
    notes.append(credit(invoice, invoice.creditable_fen))
    assert sum(line.tax_fen for lines in notes for line in lines) == invoice.tax_fen


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


def test_an_invoice_has_lines():
    with pytest.raises(ValueError):
        Invoice(
            invoice_id="i",
            enterprise_id="ent-1",
            uscc=USCC,
            lines=(),
            number="AUX-2026-000001",
            issued_on=date(2026, 11, 1),
            due_on=date(2026, 12, 1),
        )


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
