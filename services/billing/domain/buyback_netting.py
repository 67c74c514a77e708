"""What the park offsets against a buyback's gross price.

The park buys units back at their recorded original price (``gross_fen``) but never pays
back what it was never paid. The **offsets** are every unpaid amount of the enterprise:

- ``purchase_balance`` — the claimed units' purchase instalments not yet invoiced (they
  are cancelled on settlement; ``invoice_id`` null), and any invoiced purchase
  instalment of those units still open (credit-noted on settlement; its ``invoice_id``);
- ``invoice`` — every other open invoice, of any kind, due or not (its outstanding, less
  what the settlement's release will credit on it: rent and property fees billed in
  advance for the days from the settlement, :func:`release_credit`);
- ``late_fee`` — late fees accrued and not yet charged, per overdue invoice;
- ``uninvoiced_charge`` — charges recorded and not yet invoiced (a paid service), in one
  sum (``invoice_id`` null); a late fee charged and not yet invoiced is a ``late_fee``
  offset on its overdue invoice;
- ``accrued_charge`` — the claimed units' rent and property fees accrued up to the
  settlement date and not yet invoiced (the current month, when the cycle has not billed
  it yet, prorated by day), in one sum (``invoice_id`` null);
- ``unbilled_consumption`` — the claimed units' meter consumption since it was last
  billed, at the tariff, in one sum (``invoice_id`` null).

On ``claim_settled`` the service bills the accrued charges and the consumption up to
``settled_on`` (the final prorated period) before netting, so they are netted as
invoices, never lost and never counted twice (the cycle skips a source already
invoiced, and a meter's billed reading has moved).

:func:`compute_settlement` answers ``settlement_requested``. On ``claim_settled`` the
service (``handlers.buyback.settle_claim``) nets only *invoices*: it first invoices the
final period and the late fees accrued, then nets the open invoices, oldest due first.

``net_fen = gross_fen − Σ offsets``. A negative net is not a payout: the difference stays
a receivable on the account.

Worked example (issue 10): one 300 m² unit at 320,000 fen/m² = 96,000,000; 30 % down
(28,800,000) and two of six 11,200,000 instalments paid; a 45,000 property-fee invoice
60 days past due. Offsets 44,800,000 + 45,000 + 1,350 → net 51,153,650.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date

from services.billing.domain.charges import (
    Charge,
    HeldUnit,
    Instalment,
    property_fee_charge,
    rent_charge,
)
from services.billing.domain.invoices import Invoice, release_credit_fen
from services.billing.domain.late_fees import accrued_late_fee
from services.billing.domain.proration import Month
from services.billing.domain.terms import BillingTerms
from services.billing.domain.vat import Category
from shared.money import require_fen

PURCHASE_BALANCE = "purchase_balance"
INVOICE = "invoice"
LATE_FEE = "late_fee"
UNINVOICED_CHARGE = "uninvoiced_charge"
ACCRUED_CHARGE = "accrued_charge"
UNBILLED_CONSUMPTION = "unbilled_consumption"


@dataclass(frozen=True, kw_only=True)
class Offset:
    kind: str
    invoice_id: str | None
    amount_fen: int


@dataclass(frozen=True, kw_only=True)
class Settlement:
    """The netting of one claim: ``net_fen`` may be negative."""

    claim_id: str
    enterprise_id: str
    gross_fen: int
    offsets: tuple[Offset, ...]
    net_fen: int

    @property
    def offsets_fen(self) -> int:
        return sum(offset.amount_fen for offset in self.offsets)


def purchase_lines_owed(invoice: Invoice, sources: set[str]) -> dict[int, int]:
    """The open part of ``invoice``'s purchase lines (those whose source is in
    ``sources``), line index → fen, at most what the invoice still owes: payments are
    deemed to have paid the purchase lines last, so a partly paid invoice's unpaid part
    is purchase first."""
    left, owed = invoice.outstanding_fen, {}
    for index, line in enumerate(invoice.lines):
        if line.source in sources and left > 0:
            take = min(left, line.total_fen - invoice.credited_per_line[index])
            if take > 0:
                owed[index] = take
                left -= take
    return owed


def release_credit(invoice: Invoice, units: Mapping[str, HeldUnit], end: date) -> int:
    """What releasing ``units`` from ``end`` (the settlement) will credit on ``invoice``:
    rent and property fees it billed in advance for days from ``end``, by the release
    rule (:func:`.invoices.release_credit_fen`) — so that what the settlement nets is what
    the enterprise will still owe, not days it will be credited. A unit already released
    on or before ``end`` was credited then."""
    credit = 0
    for index, line in enumerate(invoice.lines):
        kind, _, rest = line.source.partition(":")
        unit_id, _, month_text = rest.rpartition(":")
        unit = units.get(unit_id)
        if kind not in ("rent", "property_fee") or unit is None:
            continue
        if unit.released_on is not None and unit.released_on <= end:
            continue
        month = Month.parse(month_text)
        if month < Month.of(end):
            continue

        def worth(released_on, unit=unit, month=month, kind=kind) -> int:
            held = replace(unit, released_on=released_on)
            charge = (
                rent_charge(held, month) if kind == "rent" else property_fee_charge(held, month)
            )
            return charge.total_fen if charge is not None else 0

        earlier = line.total_fen - worth(unit.released_on) if unit.released_on else 0
        credit += release_credit_fen(
            line.total_fen,
            worth(end),
            earlier,
            line.total_fen - invoice.credited_per_line[index],
        )
    return credit


def compute_settlement(
    *,
    claim_id: str,
    enterprise_id: str,
    gross_fen: int,
    unit_ids: Iterable[str],
    instalments: Iterable[Instalment],
    invoices: Iterable[Invoice],
    pending_charges: Iterable[Charge] = (),
    accrued_charges: Iterable[Charge] = (),
    unbilled_consumption: Iterable[Charge] = (),
    claimed_units: Iterable[HeldUnit] = (),
    as_of: date,
    terms: BillingTerms,
) -> Settlement:
    """The offsets and net of a settlement request, as of the park-local ``as_of``.
    ``accrued_charges`` (the claimed units' recurring charges accrued and not invoiced,
    see :func:`.charges.recurring_charges_until`) and ``unbilled_consumption`` (their
    meters' :func:`.charges.utility_charge`) are the caller's: the store knows them."""
    units = set(unit_ids)
    instalments = list(instalments)
    scheduled = sum(
        inst.amount_fen
        for inst in instalments
        if inst.unit_id in units and inst.invoice_id is None and not inst.cancelled
    )
    sources = {inst.source for inst in instalments if inst.unit_id in units and inst.invoice_id}
    offsets = []
    if scheduled:
        offsets.append(Offset(kind=PURCHASE_BALANCE, invoice_id=None, amount_fen=scheduled))
    open_invoices = sorted(
        (inv for inv in invoices if inv.is_open), key=lambda inv: (inv.due_on, inv.number)
    )
    claimed = {unit.unit_id: unit for unit in claimed_units}
    after_release = []
    for invoice in open_invoices:
        purchase = sum(purchase_lines_owed(invoice, sources).values())
        # the days billed in advance after the settlement are credited on it: not owed
        credited = min(release_credit(invoice, claimed, as_of), invoice.outstanding_fen - purchase)
        for kind, amount in (
            (PURCHASE_BALANCE, purchase),
            (INVOICE, invoice.outstanding_fen - purchase - max(0, credited)),
        ):
            if amount:
                offsets.append(Offset(kind=kind, invoice_id=invoice.invoice_id, amount_fen=amount))
        after_release.append(
            replace(invoice, credited_fen=invoice.credited_fen + max(0, credited))
            if credited > 0
            else invoice
        )
    pending = list(pending_charges)
    charged_fees: dict[str, int] = {}
    for charge in pending:
        if charge.category is Category.LATE_FEE and charge.ref_invoice_id is not None:
            charged_fees[charge.ref_invoice_id] = (
                charged_fees.get(charge.ref_invoice_id, 0) + charge.total_fen
            )
    fees = dict(charged_fees)
    for invoice in after_release:  # accrued on what is owed once the release credited
        fee, _days = accrued_late_fee(invoice, as_of, terms)
        fees[invoice.invoice_id] = fees.get(invoice.invoice_id, 0) + fee
    for invoice_id, fee in fees.items():
        if fee:
            offsets.append(Offset(kind=LATE_FEE, invoice_id=invoice_id, amount_fen=fee))
    for kind, charges in (
        (UNINVOICED_CHARGE, [c for c in pending if c.ref_invoice_id not in charged_fees]),
        (ACCRUED_CHARGE, accrued_charges),
        (UNBILLED_CONSUMPTION, unbilled_consumption),
    ):
        amount = sum(charge.total_fen for charge in charges)
        if amount:
            offsets.append(Offset(kind=kind, invoice_id=None, amount_fen=amount))
    total = sum(offset.amount_fen for offset in offsets)
    return Settlement(
        claim_id=claim_id,
        enterprise_id=enterprise_id,
        gross_fen=require_fen(gross_fen),
        offsets=tuple(offsets),
        net_fen=gross_fen - total,
    )
