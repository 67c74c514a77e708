"""What every use case shares: park dates, invoice lines, ledger postings, issuing an
invoice (numbered, posted, announced, paid from the credit balance at once)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from services.billing.domain import events as ev
from services.billing.domain.charges import Charge, HeldUnit, MeterState
from services.billing.domain.errors import NotYetApplicable
from services.billing.domain.invoices import (
    Invoice,
    InvoiceLine,
    amount_outstanding,
    format_invoice_number,
    line_for,
)
from services.billing.domain.ledger import (
    CUSTOMER_CREDIT,
    RECEIVABLES,
    posting,
    reversed_entries,
    sale_entries,
)
from services.billing.domain.terms import BillingTerms
from services.billing.domain.vat import Category
from services.billing.repository import Row
from shared.clock import as_utc
from shared.messaging.errors import MalformedMessage

PARK_TZ = ZoneInfo("Asia/Shanghai")


class PaymentConflict(MalformedMessage):
    """A ``bank_txn_id`` already applied arrived again with other content: refused
    (dead-lettered with ``conflicting_duplicate``); the first payment stands."""


def publish(
    uow, event_class: type[ev.DomainEvent], fields: dict[str, Any], *, park_id=None
) -> ev.DomainEvent:
    """Stage the domain's event ``event_class`` (its fields are the domain's definition
    of the payload: a missing or unknown one is a bug caught here) in the outbox; the
    unit of work checks it against the contract too."""
    event = event_class(occurred_at=uow.clock(), park_id=park_id, **fields)
    uow.emit(event.event_type, ev.event_payload(event), park_id=park_id)
    return event


def park_date(instant: datetime) -> date:
    return as_utc(instant).astimezone(PARK_TZ).date()


def _today(uow) -> date:
    return park_date(uow.clock())


def _date(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def _instant(value) -> datetime:
    return as_utc(value if isinstance(value, datetime) else datetime.fromisoformat(value))


def outstanding(invoice: Row) -> int:
    """The stored invoice's :func:`amount_outstanding`."""
    return amount_outstanding(invoice["total_fen"], invoice["paid_fen"], invoice["credited_fen"])


def invoice_view(row: Row) -> Invoice:
    """The stored invoice as the domain's :class:`Invoice`, so the domain's rules (late
    fees, credit lines, netting; its state follows from what was paid and credited)
    apply to it: its lines, what was paid and credited on it, and its late-fee record
    (through when, how much, waived)."""
    return Invoice(
        invoice_id=row["invoice_id"],
        enterprise_id=row["enterprise_id"],
        uscc=row["uscc"],
        number=row["number"],
        issued_on=row["issued_on"],
        due_on=row["due_on"],
        paid_fen=row["paid_fen"],
        credited_fen=row["credited_fen"],
        overdue_reported=row["overdue"],
        late_fee_through=row["late_fee_through"],
        late_fee_charged_fen=row["late_fees_fen"],
        late_fee_waived=row["late_fee_waived"],
        lines=tuple(
            InvoiceLine(
                category=Category(line["category"]),
                description=line.get("description", ""),
                quantity=str(line.get("quantity", "1")),
                unit_price_fen=line.get("unit_price_fen", line["total_fen"]),
                total_fen=line["total_fen"],
                vat_rate=line["tax_rate"],
                tax_fen=line["tax_fen"],
                source=line.get("source", ""),
                payable_fen=line.get("payable_fen", 0),
            )
            for line in row["lines"]
        ),
    )


# -- lines and the ledger ---------------------------------------------------------------

PUBLIC_LINE_FIELDS = (
    "category",
    "description",
    "quantity",
    "unit_price_fen",
    "total_fen",
    "tax_rate",
    "tax_fen",
)


def line_of(charge: Charge, rate: Decimal, **extra) -> dict[str, Any]:
    """An invoice line as stored (the contract's fields, plus ``source`` and extras): the
    domain's :func:`~.domain.invoices.line_for` — the charge's tax-inclusive total with
    its VAT split out — with its proration shown in the description."""
    line = line_for(charge, rate)
    stored = {
        "category": line.category.value,
        "description": line.description + (f" ({line.proration} days)" if line.proration else ""),
        "quantity": str(line.quantity),
        "unit_price_fen": line.unit_price_fen,
        "total_fen": line.total_fen,
        "tax_rate": line.vat_rate,
        "tax_fen": line.tax_fen,
        "source": line.source,
        **extra,
    }
    if line.payable_fen and "payable_fen" not in extra:
        stored["payable_fen"] = line.payable_fen
    return stored


def public_line(line: dict) -> dict:
    return {key: line[key] for key in PUBLIC_LINE_FIELDS}


def post(uow, memo: str, entries: Iterable[tuple[str, int]], *, account: Row, on: date) -> None:
    """Store the domain's :func:`~.domain.ledger.posting` of ``entries`` (debit > 0,
    credit < 0; zero amounts dropped): one that does not balance raises the domain's
    :class:`~.domain.ledger.UnbalancedPosting` (a non-integer amount TypeError) before
    anything is stored."""
    balanced = posting(memo, entries)
    rows = [
        {
            "posting_id": memo.split(" ")[0] + ":" + uow.new_id(),
            "account": entry.account,
            "amount_fen": entry.amount_fen,
            "enterprise_id": account["enterprise_id"],
            "park_id": account["park_id"],
            "memo": memo,
            "posted_on": on,
        }
        for entry in balanced.entries
    ]
    if rows:
        uow.billing.post(rows)


def _revenue_entries(lines: list[dict], sign: int) -> list[tuple[str, int]]:
    """The domain's :func:`~.domain.ledger.sale_entries` of ``lines`` (invoice lines, or
    a credit note's lines), as credits (sign −1: a sale) or debits (+1: a credit note)."""
    entries = []
    for line in lines:
        split = sale_entries(
            Category(line["category"]),
            line["total_fen"],
            line["tax_fen"],
            line.get("payable_fen", 0),
        )
        entries += split if sign < 0 else reversed_entries(split)
    return entries


def _number(uow, account: Row, terms: BillingTerms, on: date) -> str:
    sequence = uow.billing.next_number(account["park_id"] or "", on.year)
    return format_invoice_number(terms.invoice_prefix, on.year, sequence)


# -- issuing -------------------------------------------------------------------------


def issue_key(enterprise_id: str, period: str, kind: str, reference: str = "") -> str:
    return f"{enterprise_id}|{period}|{kind}|{reference}"


def issue_invoice(
    uow, account: Row, kind: str, period: str, lines: list[dict], on: date, reference: str = ""
) -> Row | None:
    """Number, store, post and announce an invoice; None if its key was issued already
    (or it has nothing to charge). The enterprise's credit balance pays it at once."""
    key = issue_key(account["enterprise_id"], period, kind, reference)
    total = sum(line["total_fen"] for line in lines)
    if total <= 0 or uow.billing.issue_key_taken(key):
        return None
    terms = uow.rules.terms(account["park_id"])
    invoice = {
        "invoice_id": str(uuid.uuid4()),
        "number": _number(uow, account, terms, on),
        "park_id": account["park_id"],
        "enterprise_id": account["enterprise_id"],
        "uscc": account["uscc"],
        "kind": kind,
        "period": period,
        "issue_key": key,
        "lines": lines,
        "total_fen": total,
        "tax_fen": sum(line["tax_fen"] for line in lines),
        "paid_fen": 0,
        "credited_fen": 0,
        "issued_on": on,
        "due_on": on + timedelta(days=terms.payment_due_days),
        "overdue": False,
        "late_fee_through": None,
        "late_fees_fen": 0,
        "late_fee_waived": False,
        "issued_at": uow.clock(),
    }
    uow.billing.add_invoice(**invoice)
    post(
        uow,
        f"invoice {invoice['number']}",
        [(RECEIVABLES, total), *_revenue_entries(lines, -1)],
        account=account,
        on=on,
    )
    publish(
        uow,
        ev.InvoiceIssued,
        {
            "invoice_id": invoice["invoice_id"],
            "number": invoice["number"],
            "enterprise_id": account["enterprise_id"],
            "uscc": account["uscc"],
            "issued_on": on,
            "due_on": invoice["due_on"],
            "total_fen": total,
            "tax_fen": invoice["tax_fen"],
            "lines": [public_line(line) for line in lines],
        },
        park_id=account["park_id"],
    )
    _pay_from_credit(uow, account, invoice, on)
    return invoice


def _pay_from_credit(uow, account: Row, invoice: Row, on: date) -> None:
    credit = uow.billing.account(account["enterprise_id"])["credit_fen"]
    amount = min(credit, outstanding(invoice))
    if amount <= 0:
        return
    invoice["paid_fen"] += amount
    uow.billing.update_invoice(invoice["invoice_id"], paid_fen=invoice["paid_fen"])
    uow.billing.record_settlement(invoice, on, amount, "credit_balance", "")
    balance = uow.billing.change_credit(account["enterprise_id"], -amount)
    post(
        uow,
        f"credit {invoice['number']}",
        [(CUSTOMER_CREDIT, amount), (RECEIVABLES, -amount)],
        account=account,
        on=on,
    )
    publish(
        uow,
        ev.CreditApplied,
        {
            "invoice_id": invoice["invoice_id"],
            "number": invoice["number"],
            "enterprise_id": account["enterprise_id"],
            "amount_fen": amount,
            "credit_balance_fen": balance,
        },
        park_id=account["park_id"],
    )
    if outstanding(invoice) == 0:
        _announce_paid(uow, account, invoice, on)


def _announce_paid(uow, account: Row, invoice: Row, on: date) -> None:
    publish(
        uow,
        ev.InvoicePaid,
        {
            "invoice_id": invoice["invoice_id"],
            "number": invoice["number"],
            "enterprise_id": account["enterprise_id"],
            "paid_on": on,
        },
        park_id=account["park_id"],
    )


def _account_or_wait(uow, enterprise_id: str) -> Row:
    account = uow.billing.account(enterprise_id, lock=True)
    if account is None:
        raise NotYetApplicable(f"no account for enterprise {enterprise_id} yet")
    return account


def _held_unit(row: Row) -> HeldUnit:
    return HeldUnit(
        unit_id=row["unit_id"],
        tenure=row["tenure"],
        area_m2=str(row["area_m2"]),
        held_from=row["start_on"],
        price_fen=row["price_fen"],
        monthly_rent_fen=row["monthly_rent_fen"],
        contract_id=row["contract_id"],
        released_on=row["end_on"],
        monthly_property_fee_fen=row["monthly_property_fee_fen"],
    )


def meter_state(row: Row) -> MeterState:
    return MeterState(
        meter_id=row["meter_id"],
        unit_id=row["unit_id"],
        kind=row["kind"],
        last_reading=row["last_reading"],
        last_read_at=row["last_read_at"],
        billed_reading=row["billed_reading"],
    )


def tariff_of(terms: BillingTerms, kind: Category):
    """The park's tariff of a meter's kind, fen per unit (exact: an int or a Decimal)."""
    return terms.water_tariff_fen if kind is Category.WATER else terms.electricity_tariff_fen


def _service_line(charge: Row, terms: BillingTerms) -> dict:
    """The invoice line of a paid service (its firm's payable kept for the ledger)."""
    return line_of(
        Charge(
            category=Category.SERVICE,
            description=charge["description"],
            quantity="1",
            unit_price_fen=charge["amount_fen"],
            total_fen=charge["amount_fen"],
            source=charge["source_key"],
        ),
        terms.vat_rates[Category.SERVICE],
        payable_fen=charge["payable_fen"],
        firm_id=charge["firm_id"],
    )


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items() if k != "issue_key"}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return as_utc(value).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value
