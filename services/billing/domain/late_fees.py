"""Late-payment penalties (违约金): accrual, cap, waiver.

An open invoice past its ``due_on`` accrues a late fee on its **overdue principal** at
the park's daily rate (default 0.05 %/day)::

    fee = round_half_up(principal_outstanding × daily_rate × days)

- *days* run from the later of ``due_on`` and the last accrual (``late_fee_through``) to
  the cycle's date, so each day is charged once; the fee is **rounded once per invoice
  per cycle** and charged as a ``late_fee`` line on the next cycle's invoice (the cycle,
  ``handlers.late_fees``, records ``late_fee_through`` and what was charged);
- *principal* excludes the invoice's own late-fee lines (fees never compound), and
  payments are deemed to settle an invoice's late-fee lines first, so the outstanding
  principal is ``min(principal, outstanding)``;
- the **cap**: all late fees ever charged on one invoice never exceed
  ``round_half_up(principal × cap_ratio)`` (default 1: never more than the principal);
- a **waiver** by an operator (who, why, when — kept on the invoice, audited) stops any
  further accrual on that invoice (:func:`record_waiver`); the service drops the fees
  charged but not yet invoiced and credit-notes those already invoiced
  (``late_fee_waived``, ``handlers.credits``).

:func:`late_fee_accrual` says what accrued (fee, days, overdue principal, whether the cap
cut it); the cycle turns it into a ``late_fee`` charge taxed at the overdue invoice's
rate (:func:`.vat.late_fee_rate`).

Worked example: 45,000 fen unpaid 60 days past due at 0.05 % → 45,000 × 0.0005 × 60 =
1,350 fen.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from services.billing.domain.errors import Refused
from services.billing.domain.invoices import Invoice
from services.billing.domain.terms import BillingTerms
from services.billing.domain.vat import Category
from shared.money import round_fen

MAX_REASON = 500


def principal_fen(invoice: Invoice) -> int:
    """The invoice's total less its own late-fee lines."""
    return sum(line.total_fen for line in invoice.lines if line.category is not Category.LATE_FEE)


@dataclass(frozen=True, kw_only=True)
class Accrual:
    """A late fee accrued on one invoice: ``fee_fen`` for ``days`` on the overdue
    ``principal_fen``; ``capped`` when the cap cut it."""

    fee_fen: int
    days: int
    principal_fen: int
    capped: bool


NOTHING = Accrual(fee_fen=0, days=0, principal_fen=0, capped=False)


def late_fee_accrual(
    invoice: Invoice,
    as_of: date,
    terms: BillingTerms,
    settlements: Iterable[tuple[date, int]] = (),
) -> Accrual:
    """The late fee accrued and not yet charged on ``invoice`` up to ``as_of``.

    ``settlements`` are the dated reductions of the invoice's balance (payments, credit
    notes, credit balance: ``(park date, fen)``). Day by day from the later of the due
    date and the last accrual to ``as_of`` (exclusive), the day's overdue principal is
    ``min(principal, what was owed that day)``, where a reduction dated *d* counts from
    day *d* on: an invoice paid twelve days late accrues twelve days even when it is
    paid before the cycle, and a part payment lowers the principal from its day. The sum
    over the days × the daily rate is rounded once (per invoice per cycle) and capped.
    ``days`` is the number of days with an overdue principal; ``principal_fen`` the
    overdue principal of the first of them.
    """
    if invoice.late_fee_waived or invoice.due_on is None or invoice.issued_on is None:
        return NOTHING
    start = max(invoice.due_on, invoice.late_fee_through or invoice.due_on)
    if as_of <= start:
        return NOTHING
    principal = principal_fen(invoice)
    later = sorted((on, fen) for on, fen in settlements if on > start and fen > 0)
    owed = invoice.outstanding_fen + sum(fen for _, fen in later)  # owed on day ``start``
    fen_days, days, first_principal, day = 0, 0, None, start
    for boundary, fen in [*later, (as_of, 0)]:
        until = min(boundary, as_of)
        overdue = min(principal, owed)
        if until > day and overdue > 0:
            fen_days += overdue * (until - day).days
            days += (until - day).days
            first_principal = first_principal if first_principal is not None else overdue
        day, owed = max(day, until), owed - fen
        if day >= as_of:
            break
    if fen_days <= 0:
        return NOTHING
    fee = round_fen(Decimal(fen_days) * terms.late_fee_daily_rate)
    cap = round_fen(Decimal(principal) * terms.late_fee_cap_ratio) - invoice.late_fee_charged_fen
    charged = max(0, min(fee, cap))
    return Accrual(
        fee_fen=charged, days=days, principal_fen=first_principal or 0, capped=charged < fee
    )


def accrued_late_fee(
    invoice: Invoice,
    as_of: date,
    terms: BillingTerms,
    settlements: Iterable[tuple[date, int]] = (),
) -> tuple[int, int]:
    """``(fee_fen, days)`` accrued and not yet charged on ``invoice`` up to ``as_of``."""
    accrual = late_fee_accrual(invoice, as_of, terms, settlements)
    return (accrual.fee_fen, accrual.days) if accrual.fee_fen else (0, 0)


def record_waiver(invoice: Invoice, by: str, reason: str, at: datetime) -> None:
    """An operator waives ``invoice``'s late fees (audited on the invoice)."""
    if not by or not reason.strip() or len(reason) > MAX_REASON:
        raise Refused("invalid_waiver", "a waiver needs an operator and a reason (≤ 500 chars)")
    if invoice.late_fee_waived:
        raise Refused("already_waived", f"late fees on {invoice.number} are already waived")
    invoice.late_fee_waived = True
    invoice.late_fee_waived_by = by
    invoice.late_fee_waived_reason = reason
    invoice.late_fee_waived_at = at
