"""Late-payment penalties (违约金): the accrual the domain computes, recorded and billed."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from services.billing.domain.charges import (
    Charge,
)
from services.billing.domain.terms import BillingTerms
from services.billing.domain.vat import Category, late_fee_rate
from services.billing.handlers.common import line_of, outstanding
from services.billing.repository import Row
from shared.money import round_fen

# -- late fees --------------------------------------------------------------------------


@dataclass
class Accrual:
    invoice: Row
    principal_fen: int
    days: int
    amount_fen: int
    capped: bool


def accrue(invoice: Row, terms: BillingTerms, on: date) -> Accrual | None:
    """The late fee accrued on an overdue invoice from the day after its due date (or
    the last accrual) through ``on``: ``outstanding × daily rate × days``, rounded once;
    all the invoice's late fees never exceed ``cap × total``. Late-fee invoices and
    waived invoices accrue nothing (fees do not compound)."""
    if invoice["kind"] == "late_fee" or invoice["late_fee_waived"]:
        return None
    principal = outstanding(invoice)
    since = invoice["late_fee_through"] or invoice["due_on"]
    days = (on - since).days
    if principal <= 0 or days <= 0 or invoice["due_on"] >= on:
        return None
    amount = round_fen(Decimal(principal) * terms.late_fee_daily_rate * days)
    room = (
        round_fen(Decimal(invoice["total_fen"]) * terms.late_fee_cap_ratio)
        - invoice["late_fees_fen"]
    )
    capped = amount > room
    return Accrual(invoice, principal, days, max(0, min(amount, room)), capped)


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
    uow.emit(
        "late_fee_charged",
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
