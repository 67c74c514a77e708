"""The monthly billing cycle: overdue invoices, late fees, and the month's invoices of
every account, each account in its own transaction."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

import structlog

from services.billing.domain import events as ev
from services.billing.domain.charges import (
    Instalment,
    billable_months,
    property_fee_charge,
    rent_charge,
    utility_charge,
)
from services.billing.domain.proration import Month
from services.billing.domain.vat import Category
from services.billing.handlers.common import (
    _held_unit,
    _service_line,
    _today,
    invoice_view,
    issue_invoice,
    issue_key,
    line_of,
    meter_state,
    outstanding,
    publish,
    tariff_of,
)
from services.billing.handlers.late_fees import _charge_late_fee, _late_fee_lines, accrue
from services.billing.repository import Row

log = structlog.get_logger(__name__)

# -- the billing cycle ------------------------------------------------------------------


@dataclass
class CycleResult:
    on: date
    checked: int = 0
    skipped: int = 0
    issued: list[str] = field(default_factory=list)
    overdue: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        return {
            "on": self.on.isoformat(),
            "checked": self.checked,
            "skipped": self.skipped,
            "issued": list(self.issued),
            "overdue": list(self.overdue),
            "failed": list(self.failed),
        }


def run_billing_cycle(uow, on: date | None = None, park_id: str | None = None) -> CycleResult:
    """Mark overdue invoices, accrue late fees and issue the month's invoices of every
    account, each account in its own transaction, taken ``FOR UPDATE SKIP LOCKED`` (an
    account another instance is billing is skipped: it bills it). Idempotent: each
    (account, period, kind, reference) is issued once."""
    on = on or _today(uow)
    result = CycleResult(on)
    with uow:
        ids = uow.billing.account_ids(park_id)
    for enterprise_id in ids:
        result.checked += 1
        try:
            with uow:
                account = uow.billing.account(enterprise_id, lock=True, skip_locked=True)
                if account is None:
                    result.skipped += 1
                    continue
                bill_account(uow, account, on, result)
                uow.commit()
        except Exception:
            log.exception("billing cycle failed for an account", enterprise_id=enterprise_id)
            result.failed.append(enterprise_id)
    return result


def bill_account(uow, account: Row, on: date, result: CycleResult | None = None) -> list[Row]:
    result = result or CycleResult(on)
    terms = uow.rules.terms(account["park_id"])
    month = Month.of(on)
    period = str(month)
    eid = account["enterprise_id"]
    # 1. overdue invoices, and the late fees accrued on them since the last cycle
    for invoice in uow.billing.open_invoices(eid):
        if invoice_view(invoice).is_overdue(on) and not invoice["overdue"]:
            uow.billing.update_invoice(invoice["invoice_id"], overdue=True)
            invoice["overdue"] = True
            result.overdue.append(invoice["number"])
            publish(
                uow,
                ev.InvoiceOverdue,
                {
                    "invoice_id": invoice["invoice_id"],
                    "number": invoice["number"],
                    "enterprise_id": eid,
                    "due_on": invoice["due_on"],
                    "outstanding_fen": outstanding(invoice),
                },
                park_id=account["park_id"],
            )
    if on.day < uow.rules.billing_day(account["park_id"]):
        return []  # the month's invoices (and the late fees they bill) from the billing day
    if not uow.billing.issue_key_taken(issue_key(eid, period, "late_fee")):
        for invoice in uow.billing.late_fee_candidates(eid, on):
            accrual = accrue(uow, invoice, terms, on)
            if accrual is not None:
                _charge_late_fee(uow, account, accrual, terms, on)
    issued: list[Row] = []
    taken = uow.billing.issue_keys(eid)  # the account is locked: no one adds to them
    invoiced = {line.get("source") for row in uow.billing.invoices(eid) for line in row["lines"]}

    def issue(
        kind: str,
        reference: str,
        build: Callable[[], tuple[list[dict], Callable]],
        billed: str = period,
    ):
        if issue_key(eid, billed, kind, reference) in taken:
            return
        lines, after = build()
        # a source already invoiced (a buyback's final period) is never billed again
        lines = [line for line in lines if line.get("source") not in invoiced]
        invoice = issue_invoice(uow, account, kind, billed, lines, on, reference)
        if invoice is not None:
            after(invoice["invoice_id"])
            issued.append(invoice)
            result.issued.append(invoice["number"])

    # 2. purchase instalments due this month (or before: a cycle missed)
    def instalments():
        due = [
            row
            for row in uow.billing.instalments(eid)
            if row["sequence"] > 0
            and not row["cancelled"]
            and row["invoice_id"] is None
            and row["bill_month"] <= period
        ]
        lines = [
            line_of(
                Instalment(
                    unit_id=row["unit_id"],
                    sequence=row["sequence"],
                    amount_fen=row["amount_fen"],
                    bill_month=row["bill_month"],
                ).charge(),
                terms.vat_rates[Category.PURCHASE],
            )
            for row in due
        ]
        return lines, lambda invoice_id: uow.billing.mark_instalments(
            [row["id"] for row in due], invoice_id=invoice_id
        )

    issue("purchase", "instalments", instalments)

    # 3. rent and property fees, per contract, prorated by day: this month's, and any
    #    earlier month since the units were held that no pass billed (the allocation
    #    was seen after that month's last pass), by the domain's billable_months
    holdings = uow.billing.holdings(eid)
    by_contract: dict[str, list[Row]] = defaultdict(list)
    for row in holdings:
        by_contract[row["contract_id"]].append(row)
    for contract_id, rows in by_contract.items():
        for billed in billable_months(min(row["start_on"] for row in rows), month):

            def rent(rows=rows, billed=billed):
                charges = [rent_charge(_held_unit(row), billed) for row in rows]
                rate = terms.vat_rates[Category.RENT]
                return [line_of(c, rate) for c in charges if c is not None], lambda _id: None

            def property_fee(rows=rows, billed=billed):
                charges = [property_fee_charge(_held_unit(row), billed) for row in rows]
                rate = terms.vat_rates[Category.PROPERTY_FEE]
                return [line_of(c, rate) for c in charges if c is not None], lambda _id: None

            issue("rent", contract_id, rent, str(billed))
            issue("property_fee", contract_id, property_fee, str(billed))

    # 4. utilities: each meter of a unit held this month, latest − billed reading
    def utilities():
        held = {row["unit_id"] for row in holdings if _held_unit(row).held_in(month) > 0}
        lines, moved = [], []
        for meter in uow.billing.meters_of_units(held):
            state = meter_state(meter)
            charge = utility_charge(state, tariff_of(terms, state.kind), month)
            if charge is not None:
                lines.append(line_of(charge, terms.vat_rates[state.kind]))
                moved.append((state.meter_id, state.billed_reading))
        return lines, lambda _id: [
            uow.billing.save_meter(meter_id, billed_reading=reading) for meter_id, reading in moved
        ]

    issue("utilities", "", utilities)

    # 5. paid services resolved since the last invoice
    def services():
        charges = uow.billing.open_charges(eid)
        lines = [_service_line(c, terms) for c in charges]
        return lines, lambda invoice_id: uow.billing.bill_charges(
            [c["charge_id"] for c in charges], invoice_id
        )

    issue("service", "", services)

    # 6. the late fees accrued above (and any left unbilled)
    def late_fees():
        lines, ids = _late_fee_lines(uow, account)
        return lines, lambda invoice_id: [
            uow.billing.update_late_fee(fee_id, billed_invoice_id=invoice_id) for fee_id in ids
        ]

    issue("late_fee", "", late_fees)
    return issued
