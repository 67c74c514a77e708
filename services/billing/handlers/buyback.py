"""Buyback netting: ``settlement_requested`` (offsets and net) and ``claim_settled``
(the repurchase posted, recurring charges stopped)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from services.billing.domain.charges import (
    Charge,
)
from services.billing.domain.errors import NotYetApplicable
from services.billing.domain.ledger import BUYBACK_PAYABLE, RECEIVABLES, UNITS_REPURCHASED
from services.billing.domain.proration import Month
from services.billing.domain.vat import Category
from services.billing.handlers.common import (
    _account_or_wait,
    _announce_paid,
    _date,
    _service_line,
    _today,
    issue_invoice,
    line_of,
    outstanding,
    post,
)
from services.billing.handlers.holdings import _credit_released_days
from services.billing.handlers.late_fees import _charge_late_fee, _late_fee_lines, accrue
from services.billing.repository import Row

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
                (UNITS_REPURCHASED, available),
                (RECEIVABLES, -(available - remaining)),
                (BUYBACK_PAYABLE, -remaining),
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
