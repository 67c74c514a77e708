"""Builders for billing domain tests: the demo park's terms and units, fixed ids, dates and
times, and issued invoices made straight from charges (the domain's rules take them as
the handlers' :func:`~services.billing.handlers.common.invoice_view` gives them)."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from services.billing.domain.charges import Charge, HeldUnit, Tenure
from services.billing.domain.invoices import Invoice, format_invoice_number, line_for
from services.billing.domain.terms import BillingTerms
from services.billing.domain.vat import rate_for

TERMS = BillingTerms()
USCC = "91310000MA1FL0AB2X"
AT = datetime(2026, 11, 27, 4, 0, tzinfo=UTC)


class Ids:
    """Deterministic ids and gapless invoice numbers (what the repository gives)."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._numbers: dict[int, itertools.count] = {}

    def __call__(self) -> str:
        return str(uuid.UUID(int=next(self._ids)))

    def number(self, year: int = 2026) -> str:
        counter = self._numbers.setdefault(year, itertools.count(1))
        return format_invoice_number(TERMS.invoice_prefix, year, next(counter))


def purchased(unit_id: str = "A-101", held_from: date = date(2026, 1, 5)) -> HeldUnit:
    return HeldUnit(
        unit_id=unit_id,
        tenure=Tenure.PURCHASE,
        area_m2="300",
        held_from=held_from,
        price_fen=96_000_000,
        monthly_property_fee_fen=45_000,
    )


def leased(unit_id: str = "B-201", held_from: date = date(2026, 11, 1)) -> HeldUnit:
    return HeldUnit(
        unit_id=unit_id,
        tenure=Tenure.LEASE,
        area_m2="300",
        held_from=held_from,
        monthly_rent_fen=450_000,
        monthly_property_fee_fen=45_000,
    )


def issued(
    ids: Ids,
    charges: list[Charge],
    issued_on: date,
    terms: BillingTerms = TERMS,
    rate: Decimal | None = None,
) -> Invoice:
    """An invoice of ``charges`` (each at its category's VAT rate, or ``rate``), issued
    on ``issued_on`` with the next number of its year, due ``payment_due_days`` later (as
    ``handlers.common.issue_invoice`` issues one)."""
    lines = tuple(
        line_for(charge, rate if rate is not None else rate_for(charge.category, terms.vat_rates))
        for charge in charges
    )
    return Invoice(
        invoice_id=ids(),
        enterprise_id="ent-1",
        uscc=USCC,
        lines=lines,
        number=ids.number(issued_on.year),
        issued_on=issued_on,
        due_on=issued_on + timedelta(days=terms.payment_due_days),
    )
