"""Queries: open invoices, statements (data and printable), aging, revenue, trial balance."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

from services.billing.domain.proration import Month
from services.billing.exceptions import InvalidRequest, NotFound
from services.billing.handlers.common import _jsonable, outstanding, park_date, public_line
from services.billing.repository import Row

# -- queries --------------------------------------------------------------------------


def _invoice_view(invoice: Row) -> dict:
    view = _jsonable(invoice)
    view["lines"] = [public_line(line) for line in invoice["lines"]]
    view["outstanding_fen"] = outstanding(invoice)
    view["status"] = invoice_status(invoice)
    return view


def invoice_status(invoice: Row) -> str:
    if outstanding(invoice) <= 0:
        return "paid" if invoice["paid_fen"] > 0 else "credited"
    status = "partially_paid" if invoice["paid_fen"] > 0 else "issued"
    return f"{status}, overdue" if invoice["overdue"] else status


def open_invoices(enterprise_id: str, uow) -> list[dict]:
    with uow:
        if uow.billing.account(enterprise_id) is None:
            raise NotFound(f"no enterprise {enterprise_id}")
        return [_invoice_view(i) for i in uow.billing.open_invoices(enterprise_id)]


def account_statement(enterprise_id: str, month: str, uow) -> dict:
    """The month's invoices (every charge with its tax), credit notes, payments and late
    fees, and the balance at the end of it (what is owed now, less credit)."""
    period = Month.parse(month)
    with uow:
        account = uow.billing.account(enterprise_id)
        if account is None:
            raise NotFound(f"no enterprise {enterprise_id}")

        def within(day: date) -> bool:
            return period.first_day <= day < period.end

        invoices = [i for i in uow.billing.invoices(enterprise_id) if within(i["issued_on"])]
        notes = [
            n for n in uow.billing.credit_notes(enterprise_id) if within(park_date(n["issued_at"]))
        ]
        payments = [
            p for p in uow.billing.payments_of(enterprise_id) if within(park_date(p["received_at"]))
        ]
        owed = sum(outstanding(i) for i in uow.billing.open_invoices(enterprise_id))
        return {
            "enterprise_id": enterprise_id,
            "name": account["name"],
            "uscc": account["uscc"],
            "park_id": account["park_id"],
            "month": str(period),
            "invoices": [_invoice_view(i) for i in invoices],
            "credit_notes": _jsonable(notes),
            "payments": _jsonable(payments),
            "charged_fen": sum(i["total_fen"] for i in invoices),
            "tax_fen": sum(i["tax_fen"] for i in invoices),
            "paid_fen": sum(p["amount_fen"] for p in payments),
            "credited_fen": sum(n["amount_fen"] for n in notes),
            "outstanding_fen": owed,
            "credit_fen": account["credit_fen"],
            "balance_fen": owed - account["credit_fen"],
        }


def statement_document(enterprise_id: str, month: str, uow):
    """The month's printable statement (``services/billing/statement``): every invoice
    with its lines and tax, the credit notes, the bank payments, and the opening balance
    (invoices − credit notes − payments before the month). Late fees are invoice lines
    (the cycle bills them), so the statement's own late-fee section stays empty."""
    from services.billing.statement.model import (
        ChargeLine,
        Statement,
        StatementCreditNote,
        StatementInvoice,
        StatementPayment,
    )

    period = Month.parse(month)
    with uow:
        account = uow.billing.account(enterprise_id)
        if account is None:
            raise NotFound(f"no enterprise {enterprise_id}")
        invoices = uow.billing.invoices(enterprise_id)
        notes = uow.billing.credit_notes(enterprise_id)
        payments = uow.billing.payments_of(enterprise_id)
    numbers = {i["invoice_id"]: i["number"] for i in invoices}
    before = period.first_day
    opening = (
        sum(i["total_fen"] for i in invoices if i["issued_on"] < before)
        - sum(n["amount_fen"] for n in notes if park_date(n["issued_at"]) < before)
        - sum(p["amount_fen"] for p in payments if park_date(p["received_at"]) < before)
    )

    def within(day: date) -> bool:
        return before <= day < period.end

    park_name, park_header = uow.rules.statement_header(account["park_id"])
    return Statement(
        park_name=park_name,
        park_header=park_header,
        enterprise_id=enterprise_id,
        enterprise_name=account["name"],
        uscc=account["uscc"],
        period_start=before,
        period_end=period.end - timedelta(days=1),
        opening_balance_fen=opening,
        invoices=[
            StatementInvoice(
                number=i["number"],
                issued_on=i["issued_on"],
                due_on=i["due_on"],
                lines=tuple(
                    ChargeLine(
                        category=line["category"],
                        description=line["description"],
                        total_fen=line["total_fen"],
                        tax_fen=line["tax_fen"],
                        tax_rate=line["tax_rate"],
                    )
                    for line in i["lines"]
                ),
                status="overdue"
                if i["overdue"] and outstanding(i) > 0
                else invoice_status(i).split(",")[0],
            )
            for i in invoices
            if within(i["issued_on"])
        ],
        credit_notes=[
            StatementCreditNote(
                number=numbers.get(n["invoice_id"], ""),
                issued_on=park_date(n["issued_at"]),
                invoice_number=numbers.get(n["invoice_id"]),
                reason=n["reason"],
                total_fen=n["amount_fen"],
                tax_fen=n["tax_fen"],
            )
            for n in notes
            if within(park_date(n["issued_at"]))
        ],
        payments=[
            StatementPayment(
                bank_txn_id=p["bank_txn_id"],
                received_on=park_date(p["received_at"]),
                amount_fen=p["amount_fen"],
                applied_to=", ".join(numbers.get(a["invoice_id"], "") for a in p["applied"]),
            )
            for p in payments
            if within(park_date(p["received_at"]))
        ],
        generated_at=uow.clock(),
    )


AGING_BUCKETS = (("0-30", 30), ("31-60", 60), ("61-90", 90), ("90+", None))


def aging_report(park_id: str, as_of: date, uow) -> dict:
    """What was owed **on** ``as_of`` on invoices issued by then — each invoice's balance
    of that date: what it owes now plus what payments, the credit balance, credit notes
    and buyback netting settled on it after ``as_of`` — by days past due on ``as_of``
    (not yet due counts as 0–30), per enterprise and in total."""
    with uow:
        later = uow.billing.settled_after(park_id, as_of)
        rows = [
            (invoice, outstanding(invoice) + later.get(invoice["invoice_id"], 0))
            for invoice in uow.billing.park_invoices(park_id)
            if invoice["issued_on"] <= as_of
        ]
    totals = {name: 0 for name, _ in AGING_BUCKETS}
    per: dict[str, dict[str, int]] = defaultdict(lambda: {name: 0 for name, _ in AGING_BUCKETS})
    for invoice, owed in rows:
        if owed <= 0:
            continue
        days = (as_of - invoice["due_on"]).days
        bucket = next(name for name, limit in AGING_BUCKETS if limit is None or days <= limit)
        totals[bucket] += owed
        per[invoice["enterprise_id"]][bucket] += owed
    return {
        "park_id": park_id,
        "as_of": as_of.isoformat(),
        "buckets": totals,
        "total_fen": sum(totals.values()),
        "enterprises": dict(per),
    }


def revenue(park_id: str, year: int, uow) -> dict:
    """Revenue (net of VAT, after credit notes) by category and month, from the ledger."""
    with uow:
        entries = uow.billing.ledger_of(park_id=park_id, prefix="revenue:")
    table: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for entry in entries:
        if entry["posted_on"].year != year:
            continue
        category = entry["account"].split(":", 1)[1]
        table[category][f"{entry['posted_on']:%Y-%m}"] -= entry["amount_fen"]
    by_category = {c: dict(sorted(months.items())) for c, months in sorted(table.items())}
    return {
        "park_id": park_id,
        "year": year,
        "by_category": by_category,
        "total_fen": sum(sum(m.values()) for m in by_category.values()),
    }


def trial_balance(uow) -> dict:
    with uow:
        accounts = uow.billing.trial_balance()
    return {"accounts": dict(sorted(accounts.items())), "total_fen": sum(accounts.values())}


def check_month(text: str) -> str:
    try:
        return str(Month.parse(text))
    except ValueError as error:
        raise InvalidRequest(str(error)) from None
