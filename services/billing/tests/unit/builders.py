"""Builders for billing domain tests: a demo-park account, fixed ids, dates and times."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, date, datetime

from services.billing.domain.account import Account
from services.billing.domain.charges import HeldUnit, Tenure
from services.billing.domain.invoices import format_invoice_number
from services.billing.domain.proration import Month
from services.billing.domain.terms import BillingTerms

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


def account(enterprise_id: str = "ent-1", uscc: str = USCC) -> Account:
    return Account(enterprise_id=enterprise_id, uscc=uscc, park_id="aux-shangjie")


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


def bill(acct: Account, ids: Ids, month: Month, issued_on: date | None = None, extra=()) -> list:
    """Run a cycle for ``month``: draft what is due and issue it (None if nothing)."""
    draft = acct.draft_invoice(ids(), [*acct.charges_for(month, TERMS), *extra], TERMS)
    if draft is None:
        return None
    issued_on = issued_on or month.first_day
    acct.issue_invoice(draft.invoice_id, ids.number(issued_on.year), issued_on, TERMS, AT)
    return draft
