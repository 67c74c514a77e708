"""Credit notes (an operator's, a release's, a waiver's) and late-fee waivers."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

from services.billing.domain import events as ev
from services.billing.domain.errors import Refused as DomainRefused
from services.billing.domain.invoices import Invoice, credit_lines
from services.billing.domain.late_fees import record_waiver
from services.billing.domain.ledger import CUSTOMER_CREDIT, RECEIVABLES
from services.billing.domain.vat import tax_included
from services.billing.exceptions import NotFound, Refused
from services.billing.handlers.common import (
    _jsonable,
    _revenue_entries,
    _today,
    invoice_view,
    outstanding,
    post,
    publish,
)
from services.billing.repository import Row

# -- credit notes and waivers ------------------------------------------------------------


def _credited(uow, invoice: Row) -> Invoice:
    """``invoice`` as the domain sees it, with what its credit notes took off each line:
    the domain's :func:`credit_lines` caps every credit by what is left on its line."""
    notes = [
        note
        for note in uow.billing.credit_notes(invoice["enterprise_id"])
        if note["invoice_id"] == invoice["invoice_id"]
    ]
    credited = invoice_view(invoice)
    credited.credited_fen = 0
    for note in notes:
        credited.credited_fen += note["amount_fen"]
        for line in note["lines"] or _legacy_split(credited, note):
            credited.credited_per_line[line["line_index"]] += line["total_fen"]
            credited.credited_tax_per_line[line["line_index"]] += line["tax_fen"]
            credited.credited_payable_per_line[line["line_index"]] += line.get("payable_fen", 0)
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


def _credited_on_line(uow, invoice: Row, index: int, reason_prefix: str) -> int:
    """What the system's credit notes whose reason starts with ``reason_prefix`` took
    off line ``index`` of ``invoice`` (an operator's notes do not count)."""
    return sum(
        line["total_fen"]
        for note in uow.billing.credit_notes(invoice["enterprise_id"])
        if note["invoice_id"] == invoice["invoice_id"]
        and note["operator"] == "billing"
        and note["reason"].startswith(reason_prefix)
        for line in note["lines"]
        if line["line_index"] == index
    )


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
            "payable_fen": line.payable_fen,
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
    uow.billing.record_settlement(invoice, on, reduces, "credit_note", note["credit_note_id"])
    excess = total - reduces
    entries = [*_revenue_entries(lines, +1), (RECEIVABLES, -reduces)]
    if excess:
        entries.append((CUSTOMER_CREDIT, -excess))
    post(uow, f"credit_note {invoice['number']}", entries, account=account, on=on)
    publish(
        uow,
        ev.CreditNoteIssued,
        {
            "invoice_id": invoice["invoice_id"],
            "number": invoice["number"],
            "enterprise_id": account["enterprise_id"],
            "credit_note_id": note["credit_note_id"],
            "amount_fen": total,
            "tax_fen": tax,
            "reason": reason,
            "by": by,
            "lines": [
                {key: value for key, value in line.items() if key != "payable_fen"}
                for line in lines
            ],
        },
        park_id=account["park_id"],
    )
    for line in lines:
        if line.get("payable_fen"):
            _announce_payable_adjusted(uow, account, invoice, note, line)
    if excess:
        balance = uow.billing.change_credit(account["enterprise_id"], excess)
        publish(
            uow,
            ev.CreditBalanceChanged,
            {
                "enterprise_id": account["enterprise_id"],
                "change_fen": excess,
                "balance_fen": balance,
                "why": "credit_note",
                "invoice_id": invoice["invoice_id"],
                "number": invoice["number"],
            },
            park_id=account["park_id"],
        )
    return note


def _announce_payable_adjusted(uow, account: Row, invoice: Row, note: dict, line: dict):
    """``firm_payable_adjusted``: a credit on a paid service's line reversed part of what
    the park owes the firm for it (the ledger's ``firm_payables`` moved with it)."""
    sold = invoice["lines"][line["line_index"]]
    kind, _, ticket_id = sold.get("source", "").partition(":")
    publish(
        uow,
        ev.FirmPayableAdjusted,
        {
            "ticket_id": ticket_id if kind == "service" else None,
            "firm_id": sold.get("firm_id"),
            "enterprise_id": account["enterprise_id"],
            "invoice_id": invoice["invoice_id"],
            "number": invoice["number"],
            "credit_note_id": note["credit_note_id"],
            "change_fen": -line["payable_fen"],
            "reason": note["reason"],
        },
        park_id=account["park_id"],
    )


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
        try:  # the domain's rule: an operator and a reason, and once per invoice
            record_waiver(invoice_view(invoice), operator, reason, uow.clock())
        except DomainRefused as refused:
            raise Refused(refused.message, refused.reason) from None
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
        publish(
            uow,
            ev.LateFeeWaived,
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
