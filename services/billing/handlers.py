"""Billing's use cases: plain functions taking what arrived and a unit of work.

Each use case is one transaction (``with uow:`` … ``uow.commit()``), except the billing
cycle, which is one transaction *per account* (one failing account is logged, counted and
skipped). Money rules come from the domain (``services/billing/domain/``): charges and
their proration, the VAT split, the purchase schedule, meter readings, service fees;
this module adds what needs the store — numbering, matching payments to invoices, the
ledger postings, netting a buyback.

**The ledger.** Every money movement posts entries that sum to zero (debit positive,
credit negative) on these accounts: ``receivables``, ``revenue:<category>``,
``vat_payable``, ``cash``, ``suspense`` (payments of unknown payers), ``customer_credit``,
``firm_payables``, ``units_repurchased``, ``buyback_payable``. The trial balance (the
sum over all accounts) is therefore always zero.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import structlog

from services.billing.domain.charges import (
    Charge,
    HeldUnit,
    Instalment,
    MeterState,
    ReadingOutcome,
    purchase_schedule,
    record_reading,
    rent_charge,
    service_fee,
    utility_charge,
)
from services.billing.domain.errors import NotYetApplicable
from services.billing.domain.errors import Refused as DomainRefused
from services.billing.domain.invoices import Invoice, InvoiceLine, InvoiceStatus, credit_lines
from services.billing.domain.proration import Month
from services.billing.domain.terms import BillingTerms
from services.billing.domain.vat import Category, late_fee_rate, tax_included
from services.billing.exceptions import InvalidRequest, NotFound, Refused
from services.billing.repository import Row
from shared.clock import as_utc
from shared.messaging.errors import MalformedMessage
from shared.money import round_fen

log = structlog.get_logger(__name__)

PARK_TZ = ZoneInfo("Asia/Shanghai")
#: The kinds of invoice the cycle issues, in the order it issues them; each (account,
#: period, kind, reference) is issued at most once.
#: How many months back a pass still bills rent and property fees no pass billed.
CATCH_UP_MONTHS = 12
KINDS = ("purchase", "rent", "property_fee", "utilities", "service", "late_fee")


class PaymentConflict(MalformedMessage):
    """A ``bank_txn_id`` already applied arrived again with other content: refused
    (dead-lettered with ``conflicting_duplicate``); the first payment stands."""


def park_date(instant: datetime) -> date:
    return as_utc(instant).astimezone(PARK_TZ).date()


def _today(uow) -> date:
    return park_date(uow.clock())


def _date(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def _instant(value) -> datetime:
    return as_utc(value if isinstance(value, datetime) else datetime.fromisoformat(value))


def outstanding(invoice: Row) -> int:
    return invoice["total_fen"] - invoice["paid_fen"] - invoice["credited_fen"]


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
    """An invoice line (the contract's fields, plus ``source`` and extras kept in the
    store): the charge's tax-inclusive total with its VAT split out."""
    return {
        "category": str(charge.category),
        "description": charge.description
        + (f" ({charge.proration} days)" if charge.proration else ""),
        "quantity": str(charge.quantity),
        "unit_price_fen": charge.unit_price_fen,
        "total_fen": charge.total_fen,
        "tax_rate": str(rate),
        "tax_fen": tax_included(charge.total_fen, rate),
        "source": charge.source,
        **extra,
    }


def public_line(line: dict) -> dict:
    return {key: line[key] for key in PUBLIC_LINE_FIELDS}


def post(uow, memo: str, entries: Iterable[tuple[str, int]], *, account: Row, on: date) -> None:
    """Post balanced entries (debit > 0, credit < 0); zero amounts are dropped."""
    rows = [
        {
            "posting_id": memo.split(" ")[0] + ":" + uow.new_id(),
            "account": name,
            "amount_fen": amount,
            "enterprise_id": account["enterprise_id"],
            "park_id": account["park_id"],
            "memo": memo,
            "posted_on": on,
        }
        for name, amount in entries
        if amount != 0
    ]
    if sum(row["amount_fen"] for row in rows) != 0:
        raise AssertionError(
            f"unbalanced posting {memo}: {[(r['account'], r['amount_fen']) for r in rows]}"
        )
    if rows:
        uow.billing.post(rows)


def _revenue_entries(lines: list[dict], sign: int) -> list[tuple[str, int]]:
    """Credits (sign −1) or debits (+1) of revenue and VAT for ``lines``; a service line's
    firm payable goes to ``firm_payables``, the rest of it is the park's commission."""
    entries = []
    for line in lines:
        payable = line.get("payable_fen", 0)
        net = line["total_fen"] - line["tax_fen"] - payable
        entries.append((f"revenue:{line['category']}", sign * net))
        entries.append(("vat_payable", sign * line["tax_fen"]))
        if payable:
            entries.append(("firm_payables", sign * payable))
    return entries


def _number(uow, account: Row, terms: BillingTerms, on: date) -> str:
    sequence = uow.billing.next_number(account["park_id"] or "", on.year)
    return f"{terms.invoice_prefix}-{on.year}-{sequence:06d}"


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
        [("receivables", total), *_revenue_entries(lines, -1)],
        account=account,
        on=on,
    )
    uow.emit(
        "invoice_issued",
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
    balance = uow.billing.change_credit(account["enterprise_id"], -amount)
    post(
        uow,
        f"credit {invoice['number']}",
        [("customer_credit", amount), ("receivables", -amount)],
        account=account,
        on=on,
    )
    uow.emit(
        "credit_applied",
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
    uow.emit(
        "invoice_paid",
        {
            "invoice_id": invoice["invoice_id"],
            "number": invoice["number"],
            "enterprise_id": account["enterprise_id"],
            "paid_on": on,
        },
        park_id=account["park_id"],
    )


# -- onboarding: accounts and holdings ---------------------------------------------------


def admit_enterprise(payload, park_id: str | None, uow) -> bool:
    """Open the enterprise's account (once; a redelivery changes nothing)."""
    with uow:
        added = uow.billing.add_account(
            enterprise_id=payload["enterprise_id"],
            park_id=park_id,
            uscc=payload["uscc"],
            name=payload["enterprise_name"],
            credit_fen=0,
            admitted_at=uow.clock(),
        )
        uow.commit()
    return added


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
    )


def allocate_units(payload, occurred_at: datetime, uow) -> Row | None:
    """Hold the units from the allocation date (a lease's ``lease_start``, else the park
    date the event occurred); a purchase's schedule is stored and its down payment
    invoiced at once. Rent and property fees are billed by the cycle from that date."""
    with uow:
        account = _account_or_wait(uow, payload["enterprise_id"])
        terms = uow.rules.terms(account["park_id"])
        start = (
            _date(payload["lease_start"]) if payload.get("lease_start") else park_date(occurred_at)
        )
        contract_id = payload["contract_id"]
        for unit in payload["units"]:
            needed = "price_fen" if unit["tenure"] == "purchase" else "monthly_rent_fen"
            if unit.get(needed) is None:
                raise MalformedMessage(
                    f"unit {unit['unit_id']}: a {unit['tenure']} needs {needed}, which is null"
                )
        down_lines, down_ids = [], []
        for unit in payload["units"]:
            if uow.billing.holding_exists(account["enterprise_id"], unit["unit_id"], contract_id):
                continue
            uow.billing.add_holding(
                enterprise_id=account["enterprise_id"],
                unit_id=unit["unit_id"],
                contract_id=contract_id,
                tenure=unit["tenure"],
                area_m2=unit["area_m2"],
                price_fen=unit["price_fen"],
                monthly_rent_fen=unit["monthly_rent_fen"],
                monthly_property_fee_fen=unit["monthly_property_fee_fen"],
                start_on=start,
                end_on=None,
            )
            if unit["tenure"] != "purchase":
                continue
            schedule = purchase_schedule(unit["unit_id"], unit["price_fen"], start, terms)
            uow.billing.add_instalments(
                [
                    {
                        "enterprise_id": account["enterprise_id"],
                        "contract_id": contract_id,
                        "unit_id": item.unit_id,
                        "sequence": item.sequence,
                        "amount_fen": item.amount_fen,
                        "bill_month": item.bill_month,
                        "invoice_id": None,
                        "cancelled": False,
                    }
                    for item in schedule
                ]
            )
            down_lines.append(line_of(schedule[0].charge(), terms.vat_rates[Category.PURCHASE]))
            down_ids.append(unit["unit_id"])
        invoice = None
        if down_lines:
            invoice = issue_invoice(
                uow,
                account,
                "purchase",
                str(Month.of(start)),
                down_lines,
                _today(uow),
                reference=f"down:{contract_id}",
            )
            if invoice is not None:
                rows = [
                    row["id"]
                    for row in uow.billing.instalments(account["enterprise_id"])
                    if row["contract_id"] == contract_id
                    and row["sequence"] == 0
                    and row["unit_id"] in down_ids
                ]
                uow.billing.mark_instalments(rows, invoice_id=invoice["invoice_id"])
        uow.commit()
    return invoice


RELEASES_NEVER_BILLED = ("application_rejected", "application_suspended", "application_withdrawn")


def release_units(payload, occurred_at: datetime, uow) -> list[Row]:
    """Stop the units' recurring charges from the park date the release occurred (a
    month already billed is credited for the days after it)."""
    enterprise_id = payload.get("enterprise_id")
    if enterprise_id is None or payload["reason"] in RELEASES_NEVER_BILLED:
        return []  # reserved, never allocated: nothing was billed
    with uow:
        account = _account_or_wait(uow, enterprise_id)
        held = [
            row
            for row in uow.billing.holdings(enterprise_id)
            if row["unit_id"] in set(payload["units"])
        ]
        if not held:
            raise NotYetApplicable(f"units {payload['units']} not allocated to {enterprise_id} yet")
        ended = uow.billing.end_holdings(enterprise_id, payload["units"], park_date(occurred_at))
        _credit_released_days(uow, account, ended, _today(uow))
        uow.commit()
    return ended


def _credit_released_days(uow, account: Row, ended: list[Row], on: date) -> None:
    """For each month already invoiced past a holding's end, a credit note of what was
    billed for the days after it (rent, property fee; re-prorated by the domain's rule)."""
    for row in ended:
        unit = _held_unit(row)
        month = Month.of(row["end_on"])
        while True:
            found = False
            for kind in ("rent", "property_fee"):
                key = issue_key(account["enterprise_id"], str(month), kind, row["contract_id"])
                invoice = uow.billing.invoice_by_key(key, lock=True)
                if invoice is None:
                    continue
                found = True
                index = next(
                    (
                        i
                        for i, line in enumerate(invoice["lines"])
                        if line["source"].startswith(f"{kind}:{unit.unit_id}:")
                    ),
                    None,
                )
                if index is None:
                    continue
                billed = invoice["lines"][index]
                charge = (
                    rent_charge(unit, month) if kind == "rent" else _property_fee(unit, row, month)
                )
                kept = charge.total_fen if charge is not None else 0
                # never more than an earlier credit (an operator's) left on the line
                difference = min(billed["total_fen"] - kept, _left_on_line(uow, invoice, index))
                if difference > 0:
                    _credit_note(
                        uow,
                        account,
                        invoice,
                        _credit_lines(uow, invoice, difference, {index: difference}),
                        f"unit {unit.unit_id} not held from {row['end_on']}",
                        None,
                        on,
                    )
            if not found:
                break
            month = month.plus(1)


def _property_fee(unit: HeldUnit, row: Row, month: Month) -> Charge | None:
    """The property fee of a held unit for ``month``: the unit's own monthly fee from
    ``units_allocated`` (``monthly_property_fee_fen``), prorated by day."""
    days = unit.held_in(month)
    if days == 0:
        return None
    monthly = row["monthly_property_fee_fen"]
    return Charge(
        category=Category.PROPERTY_FEE,
        description=f"unit {unit.unit_id} property fee {month}",
        quantity=str(row["area_m2"]),
        unit_price_fen=monthly // max(row["area_m2"], 1),
        total_fen=monthly
        if days == month.days
        else round_fen(Decimal(monthly) * days / month.days),
        source=f"property_fee:{unit.unit_id}:{month}",
        proration=None if days == month.days else f"{days}/{month.days}",
    )


# -- meters ---------------------------------------------------------------------------


def record_meter_reading(payload, uow) -> ReadingOutcome:
    """Move the meter's latest reading (the cycle bills latest − billed); a decrease or a
    conflicting reading is flagged with ``reading_anomaly``, never billed. Lean: one
    read and at most one write of the meter's row."""
    read_at = _instant(payload["read_at"])
    value = payload["reading"]  # a Decimal once loaded: written back in plain notation
    reading = format(value, "f") if isinstance(value, Decimal) else str(value)
    with uow:
        row = uow.billing.meter(payload["meter_id"])
        if row is None:
            state = MeterState(
                meter_id=payload["meter_id"], unit_id=payload["unit_id"], kind=payload["kind"]
            )
        else:
            state = MeterState(
                meter_id=row["meter_id"],
                unit_id=row["unit_id"],
                kind=row["kind"],
                last_reading=row["last_reading"],
                last_read_at=as_utc(row["last_read_at"]),
                billed_reading=row["billed_reading"],
            )
        previous = (state.last_reading, state.last_read_at)
        try:
            outcome = record_reading(state, reading, read_at)
        except DomainRefused as refused:
            raise MalformedMessage(f"{refused.reason}: {refused.message}") from None
        if outcome is ReadingOutcome.BASELINE:
            uow.billing.add_meter(
                meter_id=state.meter_id,
                unit_id=state.unit_id,
                kind=str(state.kind),
                last_reading=state.last_reading,
                last_read_at=read_at,
                billed_reading=state.billed_reading,
            )
        elif outcome is ReadingOutcome.RECORDED:
            uow.billing.save_meter(
                state.meter_id, last_reading=state.last_reading, last_read_at=read_at
            )
        elif outcome.flagged:
            uow.emit(
                "reading_anomaly",
                {
                    "meter_id": state.meter_id,
                    "unit_id": state.unit_id,
                    "kind": str(state.kind),
                    "previous_reading": previous[0],
                    "reading": reading,
                    "previous_read_at": previous[1],
                    "read_at": read_at,
                    "why": outcome.value,
                },
            )
        uow.commit()
    return outcome


# -- ticketing: paid services -----------------------------------------------------------


def charge_resolved_ticket(payload, uow) -> Row | None:
    """A resolved service with a fee becomes a ``service`` charge on the next invoice and
    a payable to the firm (fee − the park's commission). Reviews and free services
    charge nothing."""
    fee = payload.get("fee_fen")
    if not fee or payload.get("outcome") != "done" or payload.get("claim_id") is not None:
        return None
    with uow:
        account = _account_or_wait(uow, payload["enterprise_id"])
        terms = uow.rules.terms(account["park_id"])
        split = service_fee(
            payload["ticket_id"],
            payload["firm_id"],
            payload["service_code"],
            fee,
            terms.service_commission_rate,
        )
        charge = {
            "charge_id": str(uuid.uuid4()),
            "enterprise_id": account["enterprise_id"],
            "park_id": account["park_id"],
            "category": str(Category.SERVICE),
            "description": split.charge.description,
            "amount_fen": fee,
            "firm_id": payload["firm_id"],
            "payable_fen": split.firm_payable_fen,
            "source_key": split.charge.source,
            "invoice_id": None,
            "created_at": uow.clock(),
        }
        if uow.billing.add_charge(**charge):
            uow.emit(
                "firm_payable_recorded",
                {
                    "ticket_id": payload["ticket_id"],
                    "firm_id": payload["firm_id"],
                    "enterprise_id": account["enterprise_id"],
                    "fee_fen": fee,
                    "commission_rate": str(terms.service_commission_rate),
                    "commission_fen": split.commission_fen,
                    "payable_fen": split.firm_payable_fen,
                },
                park_id=account["park_id"],
            )
        else:
            charge = None
        uow.commit()
    return charge


# -- payments -------------------------------------------------------------------------


def _same_payment(row: Row, payload) -> bool:
    return (
        row["payer_uscc"] == payload["payer_uscc"]
        and row["amount_fen"] == payload["amount_fen"]
        and as_utc(row["received_at"]) == _instant(payload["received_at"])
        and row["reference"] == payload["reference"]
    )


def receive_payment(payload, uow) -> str:
    """Apply a bank payment exactly once per ``bank_txn_id`` (the payments table's primary
    key, whatever the event id): ``applied``, ``suspense`` (unknown payer:
    ``payment_unmatched``) or ``duplicate``; other content under a known id is refused."""
    bank_txn_id = payload["bank_txn_id"]
    with uow:
        existing = uow.billing.payment(bank_txn_id)
        if existing is not None:
            if _same_payment(existing, payload):
                uow.commit()  # the inbox records the replay; nothing else happens
                return "duplicate"
            raise PaymentConflict(
                f"conflicting_duplicate: bank_txn_id {bank_txn_id} was received with other "
                "content; the first payment stands"
            )
        account = uow.billing.account_by_uscc(payload["payer_uscc"], lock=True)
        on = _today(uow)
        uow.billing.add_payment(
            bank_txn_id=bank_txn_id,
            payer_uscc=payload["payer_uscc"],
            amount_fen=payload["amount_fen"],
            received_at=_instant(payload["received_at"]),
            reference=payload["reference"],
            enterprise_id=account["enterprise_id"] if account else None,
            status="applied" if account else "suspense",
            applied=[],
        )
        if account is None:
            post(
                uow,
                f"payment {bank_txn_id} suspense",
                [("cash", payload["amount_fen"]), ("suspense", -payload["amount_fen"])],
                account={"enterprise_id": None, "park_id": uow.cause.park_id},
                on=on,
            )
            uow.emit(
                "payment_unmatched",
                {
                    "bank_txn_id": bank_txn_id,
                    "payer_uscc": payload["payer_uscc"],
                    "amount_fen": payload["amount_fen"],
                    "why": "unknown_payer",
                    "reference": payload["reference"][:200],
                },
            )
            outcome = "suspense"
        else:
            applied = apply_payment(
                uow, account, payload["amount_fen"], bank_txn_id, payload["reference"], "cash", on
            )
            uow.billing.update_payment(bank_txn_id, applied=applied)
            outcome = "applied"
        uow.commit()
    return outcome


def apply_payment(
    uow, account: Row, amount: int, bank_txn_id: str, reference: str, debit: str, on: date
) -> list[dict]:
    """The referenced invoice first (its number, if it is this enterprise's and open),
    then the oldest due; the rest becomes credit balance."""
    open_ = uow.billing.open_invoices(account["enterprise_id"])
    referenced = [i for i in open_ if reference and i["number"] == reference.strip()]
    order = referenced + [i for i in open_ if i not in referenced]
    remaining, applied = amount, []
    for invoice in order:
        if remaining == 0:
            break
        take = min(remaining, outstanding(invoice))
        invoice["paid_fen"] += take
        remaining -= take
        uow.billing.update_invoice(invoice["invoice_id"], paid_fen=invoice["paid_fen"])
        applied.append({"invoice_id": invoice["invoice_id"], "amount_fen": take})
        uow.emit(
            "payment_applied",
            {
                "invoice_id": invoice["invoice_id"],
                "number": invoice["number"],
                "enterprise_id": account["enterprise_id"],
                "bank_txn_id": bank_txn_id,
                "amount_fen": take,
                "outstanding_fen": outstanding(invoice),
            },
            park_id=account["park_id"],
        )
        if outstanding(invoice) == 0:
            _announce_paid(uow, account, invoice, on)
    entries = [(debit, amount), ("receivables", -(amount - remaining))]
    if remaining:
        balance = uow.billing.change_credit(account["enterprise_id"], remaining)
        entries.append(("customer_credit", -remaining))
        uow.emit(
            "payment_credited",
            {
                "bank_txn_id": bank_txn_id,
                "enterprise_id": account["enterprise_id"],
                "amount_fen": remaining,
                "credit_balance_fen": balance,
            },
            park_id=account["park_id"],
        )
    post(uow, f"payment {bank_txn_id}", entries, account=account, on=on)
    return applied


def match_payment(bank_txn_id: str, enterprise_id: str, operator: str, reason: str, uow) -> dict:
    """An operator matches a payment in suspense to an enterprise (audited); it is then
    applied like any payment."""
    with uow:
        payment = uow.billing.payment(bank_txn_id, lock=True)
        if payment is None:
            raise NotFound(f"no payment {bank_txn_id}")
        if payment["status"] != "suspense":
            raise Refused(f"payment {bank_txn_id} is not in suspense", "not_in_suspense")
        account = uow.billing.account(enterprise_id, lock=True)
        if account is None:
            raise NotFound(f"no enterprise {enterprise_id}")
        on = _today(uow)
        uow.billing.audit(
            action="match_payment",
            subject=bank_txn_id,
            operator=operator,
            reason=reason,
            at=uow.clock(),
        )
        uow.emit(
            "payment_matched",
            {
                "bank_txn_id": bank_txn_id,
                "enterprise_id": enterprise_id,
                "amount_fen": payment["amount_fen"],
                "matched_by": operator,
                "note": reason,
            },
            park_id=account["park_id"],
        )
        applied = apply_payment(
            uow, account, payment["amount_fen"], bank_txn_id, payment["reference"], "suspense", on
        )
        uow.billing.update_payment(
            bank_txn_id, enterprise_id=enterprise_id, status="applied", applied=applied
        )
        uow.commit()
    return {"bank_txn_id": bank_txn_id, "enterprise_id": enterprise_id, "applied": applied}


# -- credit notes and waivers ------------------------------------------------------------


def _credited(uow, invoice: Row) -> Invoice:
    """``invoice`` as the domain sees it, with what its credit notes took off each line:
    the domain's :func:`credit_lines` caps every credit by what is left on its line."""
    credited = Invoice(
        invoice_id=invoice["invoice_id"],
        enterprise_id=invoice["enterprise_id"],
        uscc=invoice["uscc"],
        number=invoice["number"],
        status=InvoiceStatus.ISSUED,
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
            )
            for line in invoice["lines"]
        ),
    )
    for note in uow.billing.credit_notes(invoice["enterprise_id"]):
        if note["invoice_id"] != invoice["invoice_id"]:
            continue
        credited.credited_fen += note["amount_fen"]
        for line in note["lines"] or _legacy_split(credited, note):
            credited.credited_per_line[line["line_index"]] += line["total_fen"]
            credited.credited_tax_per_line[line["line_index"]] += line["tax_fen"]
    return credited


def _legacy_split(credited: Invoice, note: Row) -> list[dict]:
    """A note issued before notes kept their lines (revision 0004): split as it was
    then, largest line first, each capped by what is left on it."""
    split, left, tax_left = [], note["amount_fen"], note["tax_fen"]
    order = sorted(range(len(credited.lines)), key=lambda i: -credited.lines[i].total_fen)
    for index in order:
        take = min(left, credited.lines[index].total_fen - credited.credited_per_line[index])
        if take > 0:
            left -= take
            rate = Decimal(credited.lines[index].vat_rate)
            tax = tax_left if left == 0 else tax_included(take, rate)
            tax_left -= tax
            split.append({"line_index": index, "total_fen": take, "tax_fen": tax})
    return split


def _left_on_line(uow, invoice: Row, index: int) -> int:
    credited = _credited(uow, invoice)
    return credited.lines[index].total_fen - credited.credited_per_line[index]


def _credit_lines(
    uow, invoice: Row, amount_fen: int, line_amounts: dict[int, int] | None = None
) -> list[dict]:
    """The lines of a credit note of ``amount_fen`` on ``invoice`` by the domain's rule:
    none takes more than is left on its line, and the one that exhausts a line carries
    exactly its remaining tax."""
    try:
        lines = credit_lines(_credited(uow, invoice), amount_fen, line_amounts)
    except DomainRefused as refused:
        raise Refused(refused.message, refused.reason) from None
    return [
        {
            "line_index": line.line_index,
            "category": str(line.category),
            "total_fen": line.total_fen,
            "tax_rate": line.vat_rate,
            "tax_fen": line.tax_fen,
        }
        for line in lines
    ]


def _credit_note(
    uow, account: Row, invoice: Row, lines: list[dict], reason: str, by: str | None, on: date
) -> dict:
    """A credit note against ``invoice`` (never edited): what is still owed on it is
    reduced; a credit beyond that (the invoice was paid) becomes customer credit."""
    total = sum(line["total_fen"] for line in lines)
    tax = sum(line["tax_fen"] for line in lines)
    note = {
        "credit_note_id": str(uuid.uuid4()),
        "invoice_id": invoice["invoice_id"],
        "enterprise_id": account["enterprise_id"],
        "amount_fen": total,
        "tax_fen": tax,
        "reason": reason,
        "operator": by or "billing",
        "issued_at": uow.clock(),
        "lines": lines,
    }
    uow.billing.add_credit_note(**note)
    reduces = min(total, outstanding(invoice))
    invoice["credited_fen"] += reduces
    uow.billing.update_invoice(invoice["invoice_id"], credited_fen=invoice["credited_fen"])
    excess = total - reduces
    entries = [*_revenue_entries(lines, +1), ("receivables", -reduces)]
    if excess:
        entries.append(("customer_credit", -excess))
    post(uow, f"credit_note {invoice['number']}", entries, account=account, on=on)
    uow.emit(
        "credit_note_issued",
        {
            "invoice_id": invoice["invoice_id"],
            "number": invoice["number"],
            "enterprise_id": account["enterprise_id"],
            "credit_note_id": note["credit_note_id"],
            "amount_fen": total,
            "tax_fen": tax,
            "reason": reason,
            "by": by,
            "lines": lines,
        },
        park_id=account["park_id"],
    )
    if excess:
        balance = uow.billing.change_credit(account["enterprise_id"], excess)
        uow.emit(
            "credit_balance_changed",
            {
                "enterprise_id": account["enterprise_id"],
                "change_fen": excess,
                "balance_fen": balance,
                "why": "credit_note",
                "invoice_id": invoice["invoice_id"],
            },
            park_id=account["park_id"],
        )
    return note


def issue_credit_note(invoice_id: str, amount_fen: int, reason: str, operator: str, uow) -> dict:
    """An operator's correction of an issued invoice (never edited): a credit note of
    ``amount_fen`` taken off what is left on its lines, in order, each taxed at its line's
    rate (audited)."""
    with uow:
        found = uow.billing.invoice(invoice_id)
        if found is None:
            raise NotFound(f"no invoice {invoice_id}")
        account = uow.billing.account(found["enterprise_id"], lock=True)
        invoice = uow.billing.invoice(invoice_id, lock=True)
        lines = _credit_lines(uow, invoice, amount_fen)
        on = _today(uow)
        note = _credit_note(uow, account, invoice, lines, reason, operator, on)
        uow.billing.audit(
            action="issue_credit_note",
            subject=invoice_id,
            operator=operator,
            reason=reason,
            at=uow.clock(),
        )
        uow.commit()
    return _jsonable(note)


def waive_late_fee(invoice_id: str, operator: str, reason: str, uow) -> dict:
    """Waive the late fees of the overdue invoice ``invoice_id`` (audited): fees not yet
    billed are dropped, billed ones are credited, and no more accrue on it."""
    with uow:
        found = uow.billing.invoice(invoice_id)
        if found is None:
            raise NotFound(f"no invoice {invoice_id}")
        account = uow.billing.account(found["enterprise_id"], lock=True)
        invoice = uow.billing.invoice(invoice_id, lock=True)
        fees = [f for f in uow.billing.late_fees(invoice_id=invoice_id) if not f["waived"]]
        if not fees and invoice["late_fee_waived"]:
            raise Refused(f"no late fee to waive on {invoice['number']}", "nothing_to_waive")
        on = _today(uow)
        waived = credited = 0
        for fee in fees:
            uow.billing.update_late_fee(fee["late_fee_id"], waived=True)
            waived += fee["amount_fen"]
            if fee["billed_invoice_id"] is None:
                continue
            billed = uow.billing.invoice(fee["billed_invoice_id"], lock=True)
            index = next(
                i
                for i, line in enumerate(billed["lines"])
                if line["source"] == f"late_fee:{fee['late_fee_id']}"
            )
            take = min(fee["amount_fen"], _left_on_line(uow, billed, index))
            if take <= 0:
                continue  # an operator already credited the fee's line
            _credit_note(
                uow,
                account,
                billed,
                _credit_lines(uow, billed, take, {index: take}),
                f"late fee waived: {reason}",
                operator,
                on,
            )
            credited += take
        uow.emit(
            "late_fee_waived",
            {
                "invoice_id": invoice_id,
                "number": invoice["number"],
                "enterprise_id": account["enterprise_id"],
                "by": operator,
                "reason": reason,
                "credited_fen": credited,
            },
            park_id=account["park_id"],
        )
        uow.billing.update_invoice(invoice_id, late_fee_waived=True)
        uow.billing.audit(
            action="waive_late_fee",
            subject=invoice_id,
            operator=operator,
            reason=reason,
            at=uow.clock(),
        )
        uow.commit()
    return {"invoice_id": invoice_id, "waived_fen": waived, "late_fees": len(fees)}


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
        if invoice["due_on"] < on and not invoice["overdue"]:
            uow.billing.update_invoice(invoice["invoice_id"], overdue=True)
            invoice["overdue"] = True
            result.overdue.append(invoice["number"])
            uow.emit(
                "invoice_overdue",
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
        for invoice in uow.billing.open_invoices(eid):
            accrual = accrue(invoice, terms, on)
            if accrual is not None:
                _charge_late_fee(uow, account, accrual, terms, on)
    issued: list[Row] = []
    taken = uow.billing.issue_keys(eid)  # the account is locked: no one adds to them

    def issue(
        kind: str,
        reference: str,
        build: Callable[[], tuple[list[dict], Callable]],
        billed: str = period,
    ):
        if issue_key(eid, billed, kind, reference) in taken:
            return
        lines, after = build()
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
    #    was seen after that month's last pass), at most CATCH_UP_MONTHS back
    holdings = uow.billing.holdings(eid)
    by_contract: dict[str, list[Row]] = defaultdict(list)
    for row in holdings:
        by_contract[row["contract_id"]].append(row)
    for contract_id, rows in by_contract.items():
        first = min(Month.of(row["start_on"]) for row in rows)
        billed = max(first, month.plus(-CATCH_UP_MONTHS))
        while billed <= month:

            def rent(rows=rows, billed=billed):
                charges = [rent_charge(_held_unit(row), billed) for row in rows]
                rate = terms.vat_rates[Category.RENT]
                return [line_of(c, rate) for c in charges if c is not None], lambda _id: None

            def property_fee(rows=rows, billed=billed):
                charges = [_property_fee(_held_unit(row), row, billed) for row in rows]
                rate = terms.vat_rates[Category.PROPERTY_FEE]
                return [line_of(c, rate) for c in charges if c is not None], lambda _id: None

            issue("rent", contract_id, rent, str(billed))
            issue("property_fee", contract_id, property_fee, str(billed))
            billed = billed.plus(1)

    # 4. utilities: each meter of a unit held this month, latest − billed reading
    def utilities():
        held = {row["unit_id"] for row in holdings if _held_unit(row).held_in(month) > 0}
        lines, moved = [], []
        for meter in uow.billing.meters_of_units(held):
            state = MeterState(
                meter_id=meter["meter_id"],
                unit_id=meter["unit_id"],
                kind=meter["kind"],
                last_reading=meter["last_reading"],
                last_read_at=meter["last_read_at"],
                billed_reading=meter["billed_reading"],
            )
            tariff = (
                terms.water_tariff_fen
                if state.kind is Category.WATER
                else terms.electricity_tariff_fen
            )
            charge = utility_charge(state, tariff, month)
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


# -- buyback netting ------------------------------------------------------------------


def _purchase_unit(line: dict) -> str | None:
    """The unit of a purchase line (its source ``purchase:<unit_id>:<sequence>``)."""
    parts = line.get("source", "").split(":")
    return parts[1] if len(parts) == 3 and parts[0] == "purchase" else None


def compute_offsets(uow, account: Row, unit_ids: set[str], on: date) -> list[dict]:
    """Every unpaid amount of the enterprise (the kinds of the domain's netting): the
    claimed units' purchase balance (not yet invoiced: one sum; invoiced and unpaid: on
    its invoice), what each open invoice owes besides, each overdue invoice's late fee not
    yet invoiced (billed fees are on unpaid late-fee invoices already), and the charges
    not yet invoiced (paid services resolved since the last cycle), in one sum."""
    terms = uow.rules.terms(account["park_id"])
    eid = account["enterprise_id"]
    offsets = []
    balance = sum(
        row["amount_fen"]
        for row in uow.billing.instalments(eid)
        if row["unit_id"] in unit_ids and not row["cancelled"] and row["invoice_id"] is None
    )
    if balance:
        offsets.append({"kind": "purchase_balance", "invoice_id": None, "amount_fen": balance})
    open_ = uow.billing.open_invoices(eid)
    for invoice in open_:
        # the claimed units' purchase lines still owed (payments are deemed to have paid
        # them last, as the domain's netting has it), then the rest of the invoice
        claimed = sum(
            line["total_fen"]
            for line in invoice["lines"]
            if line["category"] == "purchase" and _purchase_unit(line) in unit_ids
        )
        purchase = min(outstanding(invoice), claimed)
        rest = outstanding(invoice) - purchase
        for kind, amount in (("purchase_balance", purchase), ("invoice", rest)):
            if amount:
                offsets.append(
                    {"kind": kind, "invoice_id": invoice["invoice_id"], "amount_fen": amount}
                )
    unbilled = defaultdict(int)
    for fee in uow.billing.late_fees(enterprise_id=eid, unbilled=True):
        unbilled[fee["invoice_id"]] += fee["amount_fen"]
    for invoice in open_:
        accrual = accrue(invoice, terms, on)
        if accrual is not None:
            unbilled[invoice["invoice_id"]] += accrual.amount_fen
    for invoice_id, amount in unbilled.items():
        if amount > 0:
            offsets.append({"kind": "late_fee", "invoice_id": invoice_id, "amount_fen": amount})
    uninvoiced = sum(c["amount_fen"] for c in uow.billing.open_charges(eid))
    if uninvoiced:
        offsets.append({"kind": "uninvoiced_charge", "invoice_id": None, "amount_fen": uninvoiced})
    return offsets


def compute_settlement(payload, uow) -> dict:
    """``settlement_requested`` → ``buyback_settlement_computed``: gross less every unpaid
    amount; computed once per claim (a later request of the same claim is answered with
    the same figures)."""
    with uow:
        account = _account_or_wait(uow, payload["enterprise_id"])
        existing = uow.billing.settlement(payload["claim_id"])
        if existing is not None:
            uow.commit()
            return existing
        units = {unit["unit_id"] for unit in payload["units"]}
        offsets = compute_offsets(uow, account, units, _today(uow))
        gross = payload["gross_fen"]
        net = gross - sum(o["amount_fen"] for o in offsets)
        settlement = {
            "claim_id": payload["claim_id"],
            "enterprise_id": account["enterprise_id"],
            "gross_fen": gross,
            "net_fen": net,
            "offsets": offsets,
            "settled_on": None,
        }
        uow.billing.add_settlement(**settlement)
        uow.emit(
            "buyback_settlement_computed",
            {
                "claim_id": payload["claim_id"],
                "enterprise_id": account["enterprise_id"],
                "gross_fen": gross,
                "offsets": offsets,
                "net_fen": net,
            },
            park_id=account["park_id"],
        )
        uow.commit()
    return settlement


def settle_claim(payload, uow) -> dict | None:
    """``claim_settled``: cancel the claimed units' instalments not yet invoiced, stop
    their recurring charges from ``settled_on`` (credit for days already billed), bill
    the late fees accrued until then, net the repurchase price against every open
    invoice (oldest first) and owe the enterprise the rest (``buyback_payable``). A
    negative net leaves the invoices it could not cover open: the enterprise still owes
    them."""
    unit_ids = [u if isinstance(u, str) else u["unit_id"] for u in payload["units"]]
    with uow:
        account = _account_or_wait(uow, payload["enterprise_id"])
        settlement = uow.billing.settlement(payload["claim_id"])
        if settlement is None:
            raise NotYetApplicable(f"claim {payload['claim_id']} has no settlement computed yet")
        if settlement["settled_on"] is not None:
            uow.commit()
            return None
        settled_on = _date(payload["settled_on"]) if payload.get("settled_on") else _today(uow)
        on = _today(uow)
        eid = account["enterprise_id"]
        terms = uow.rules.terms(account["park_id"])
        cancelled = [
            row
            for row in uow.billing.instalments(eid)
            if row["unit_id"] in set(unit_ids)
            and not row["cancelled"]
            and row["invoice_id"] is None
        ]
        uow.billing.mark_instalments([row["id"] for row in cancelled], cancelled=True)
        ended = uow.billing.end_holdings(eid, unit_ids, settled_on)
        _credit_released_days(uow, account, ended, on)
        for invoice in uow.billing.open_invoices(eid):
            accrual = accrue(invoice, terms, settled_on)
            if accrual is not None:
                _charge_late_fee(uow, account, accrual, terms, settled_on)
        lines, ids = _late_fee_lines(uow, account)
        fee_invoice = issue_invoice(
            uow, account, "late_fee", str(Month.of(on)), lines, on, f"buyback:{payload['claim_id']}"
        )
        if fee_invoice is not None:
            for fee_id in ids:
                uow.billing.update_late_fee(fee_id, billed_invoice_id=fee_invoice["invoice_id"])
        gross = payload.get("gross_fen") or settlement["gross_fen"]
        charges = uow.billing.open_charges(eid)
        service = issue_invoice(
            uow,
            account,
            "service",
            str(Month.of(on)),
            [_service_line(c, terms) for c in charges],
            on,
            f"buyback:{payload['claim_id']}",
        )
        if service is not None:
            uow.billing.bill_charges([c["charge_id"] for c in charges], service["invoice_id"])
        balance = sum(row["amount_fen"] for row in cancelled)
        if balance > gross:
            # the price paid back does not cover the purchase balance cancelled: what it
            # does not cover stays owed, on an invoice of its own
            shortfall = Charge(
                category=Category.PURCHASE,
                description=f"purchase balance not covered by buyback {payload['claim_id']}",
                quantity="1",
                unit_price_fen=balance - gross,
                total_fen=balance - gross,
                source=f"buyback_shortfall:{payload['claim_id']}",
            )
            issue_invoice(
                uow,
                account,
                "purchase",
                str(Month.of(on)),
                [line_of(shortfall, terms.vat_rates[Category.PURCHASE])],
                on,
                f"buyback:{payload['claim_id']}",
            )
            balance = gross
        available = gross - balance
        remaining = available
        for invoice in uow.billing.open_invoices(eid):
            if remaining <= 0:
                break
            take = min(remaining, outstanding(invoice))
            invoice["paid_fen"] += take
            remaining -= take
            uow.billing.update_invoice(invoice["invoice_id"], paid_fen=invoice["paid_fen"])
            if outstanding(invoice) == 0:
                _announce_paid(uow, account, invoice, on)
        post(
            uow,
            f"buyback {payload['claim_id']}",
            [
                ("units_repurchased", available),
                ("receivables", -(available - remaining)),
                ("buyback_payable", -remaining),
            ],
            account=account,
            on=on,
        )
        still_owed = sum(outstanding(i) for i in uow.billing.open_invoices(eid))
        uow.emit(
            "buyback_netted",
            {
                "claim_id": payload["claim_id"],
                "enterprise_id": eid,
                "gross_fen": gross,
                "net_fen": remaining - still_owed,
                "payout_fen": remaining,
                "still_owed_fen": still_owed,
                "settled_on": settled_on,
            },
            park_id=account["park_id"],
        )
        uow.billing.update_settlement(payload["claim_id"], settled_on=settled_on)
        uow.commit()
    return {
        "claim_id": payload["claim_id"],
        "payable_fen": remaining,
        "still_owed_fen": still_owed,
        "settled_on": settled_on,
    }


# -- queries --------------------------------------------------------------------------


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

    return Statement(
        park_name=account["park_id"] or "",
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
    """What is owed now on invoices issued by ``as_of``, by days past due on ``as_of``
    (not yet due counts as 0–30), per enterprise and in total."""
    with uow:
        rows = [
            i
            for i in uow.billing.park_invoices(park_id)
            if outstanding(i) > 0 and i["issued_on"] <= as_of
        ]
    totals = {name: 0 for name, _ in AGING_BUCKETS}
    per: dict[str, dict[str, int]] = defaultdict(lambda: {name: 0 for name, _ in AGING_BUCKETS})
    for invoice in rows:
        days = (as_of - invoice["due_on"]).days
        bucket = next(name for name, limit in AGING_BUCKETS if limit is None or days <= limit)
        totals[bucket] += outstanding(invoice)
        per[invoice["enterprise_id"]][bucket] += outstanding(invoice)
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
