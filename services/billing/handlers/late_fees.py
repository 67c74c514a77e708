"""Late-payment penalties (违约金): the accrual the domain computes, recorded and billed."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from services.billing.domain import events as ev
from services.billing.domain.charges import (
    Charge,
)
from services.billing.domain.late_fees import late_fee_accrual
from services.billing.domain.terms import BillingTerms
from services.billing.domain.vat import Category, late_fee_rate
from services.billing.handlers.common import invoice_view, line_of, publish
from services.billing.repository import Row

# -- late fees --------------------------------------------------------------------------


@dataclass(frozen=True)
class Accrual:
    """The domain's accrual on a stored invoice (the row it is recorded on)."""

    invoice: Row
    principal_fen: int
    days: int
    amount_fen: int
    capped: bool


def accrue(
    uow, invoice: Row, terms: BillingTerms, on: date, *, dated: bool = True
) -> Accrual | None:
    """The late fee accrued on ``invoice`` through ``on`` and not yet charged, by the
    domain's rule (:func:`.domain.late_fees.late_fee_accrual`: each day's overdue
    principal × daily rate, from the invoice's dated settlements — so days paid late
    between two cycles are charged too — rounded once per invoice per cycle, capped at
    ``cap × principal`` over all the invoice's fees, nothing once waived, never on late
    fees); None if nothing accrued. ``dated=False``: on what is owed now for every day
    (the buyback settlement's rule, the one its netting computed the payout with)."""
    settlements = uow.billing.settlements_of(invoice["invoice_id"]) if dated else ()
    accrual = late_fee_accrual(invoice_view(invoice), on, terms, settlements)
    if accrual.days <= 0:
        return None
    return Accrual(invoice, accrual.principal_fen, accrual.days, accrual.fee_fen, accrual.capped)


def _charge_late_fee(uow, account: Row, accrual: Accrual, terms: BillingTerms, on: date):
    invoice = accrual.invoice
    uow.billing.update_invoice(
        invoice["invoice_id"],
        late_fee_through=on,
        late_fees_fen=invoice["late_fees_fen"] + accrual.amount_fen,
    )
    if accrual.amount_fen <= 0:
        return None
    fee_id = str(uuid.uuid4())
    uow.billing.add_late_fee(
        late_fee_id=fee_id,
        invoice_id=invoice["invoice_id"],
        enterprise_id=account["enterprise_id"],
        principal_fen=accrual.principal_fen,
        daily_rate=str(terms.late_fee_daily_rate),
        days=accrual.days,
        accrued_through=on,
        amount_fen=accrual.amount_fen,
        capped=accrual.capped,
        billed_invoice_id=None,
        waived=False,
    )
    publish(
        uow,
        ev.LateFeeCharged,
        {
            "invoice_id": invoice["invoice_id"],
            "number": invoice["number"],
            "enterprise_id": account["enterprise_id"],
            "principal_fen": accrual.principal_fen,
            "daily_rate": str(terms.late_fee_daily_rate),
            "days": accrual.days,
            "through": on,
            "amount_fen": accrual.amount_fen,
            "capped": accrual.capped,
        },
        park_id=account["park_id"],
    )
    return fee_id


def _late_fee_lines(uow, account: Row) -> tuple[list[dict], list[str]]:
    lines, ids = [], []
    for fee in uow.billing.late_fees(enterprise_id=account["enterprise_id"], unbilled=True):
        overdue = uow.billing.invoice(fee["invoice_id"])
        rate = late_fee_rate(
            (Category(line["category"]), line["total_fen"], Decimal(line["tax_rate"]))
            for line in overdue["lines"]
        )
        charge = Charge(
            category=Category.LATE_FEE,
            description=(
                f"late fee on {overdue['number']}: {fee['days']} days × {fee['daily_rate']} "
                f"× {fee['principal_fen']} fen"
            ),
            quantity=str(fee["days"]),
            unit_price_fen=fee["amount_fen"],
            total_fen=fee["amount_fen"],
            source=f"late_fee:{fee['late_fee_id']}",
            ref_invoice_id=overdue["invoice_id"],
        )
        line = line_of(charge, rate)
        line["quantity"] = "1"
        lines.append(line)
        ids.append(fee["late_fee_id"])
    return lines, ids
