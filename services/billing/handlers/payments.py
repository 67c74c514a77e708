"""Bank payments (``bank.events/payment_received``): exactly once per ``bank_txn_id``,
matched by USCC, suspense for an unknown payer, an operator's match."""

from __future__ import annotations

from datetime import date

from services.billing.domain import events as ev
from services.billing.domain.ledger import CASH, CUSTOMER_CREDIT, RECEIVABLES, SUSPENSE
from services.billing.domain.payments import allocate
from services.billing.exceptions import NotFound, Refused
from services.billing.handlers.common import (
    PaymentConflict,
    _announce_paid,
    _instant,
    _today,
    invoice_view,
    outstanding,
    post,
    publish,
)
from services.billing.repository import Row
from shared.clock import as_utc

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
        uow.billing.lock_payer(payload["payer_uscc"])
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
                [(CASH, payload["amount_fen"]), (SUSPENSE, -payload["amount_fen"])],
                account={"enterprise_id": None, "park_id": uow.cause.park_id},
                on=on,
            )
            publish(
                uow,
                ev.PaymentUnmatched,
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
                uow, account, payload["amount_fen"], bank_txn_id, payload["reference"], CASH, on
            )
            uow.billing.update_payment(bank_txn_id, applied=applied)
            outcome = "applied"
        uow.commit()
    return outcome


def apply_payment(
    uow, account: Row, amount: int, bank_txn_id: str, reference: str, debit: str, on: date
) -> list[dict]:
    """Where the money goes is the domain's rule (:func:`.domain.payments.allocate`): the
    referenced invoice first (its number, if it is this enterprise's and open), then the
    oldest due; the rest becomes credit balance."""
    rows = {row["invoice_id"]: row for row in uow.billing.open_invoices(account["enterprise_id"])}
    plan, remaining = allocate(
        amount, [invoice_view(row) for row in rows.values()], (reference or "").strip()
    )
    applied = []
    for view, take in plan:
        invoice = rows[view.invoice_id]
        invoice["paid_fen"] += take
        uow.billing.update_invoice(invoice["invoice_id"], paid_fen=invoice["paid_fen"])
        uow.billing.record_settlement(invoice, on, take, "payment", bank_txn_id)
        applied.append({"invoice_id": invoice["invoice_id"], "amount_fen": take})
        publish(
            uow,
            ev.PaymentApplied,
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
    entries = [(debit, amount), (RECEIVABLES, -(amount - remaining))]
    if remaining:
        balance = uow.billing.change_credit(account["enterprise_id"], remaining)
        entries.append((CUSTOMER_CREDIT, -remaining))
        publish(
            uow,
            ev.PaymentCredited,
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


def apply_suspended_payments(uow, account: Row) -> list[str]:
    """The payments in suspense from the USCC of a newly opened ``account`` (the bank
    was faster than onboarding): each applied like any payment, out of suspense
    (``payment_matched`` by ``billing``, then ``payment_applied`` / ``payment_credited``),
    in the account's opening transaction — so exactly once."""
    on = _today(uow)
    applied_ids = []
    for payment in uow.billing.suspended_payments(account["uscc"]):
        bank_txn_id = payment["bank_txn_id"]
        publish(
            uow,
            ev.PaymentMatched,
            {
                "bank_txn_id": bank_txn_id,
                "enterprise_id": account["enterprise_id"],
                "amount_fen": payment["amount_fen"],
                "matched_by": "billing",
                "note": "payer admitted",
            },
            park_id=account["park_id"],
        )
        applied = apply_payment(
            uow,
            account,
            payment["amount_fen"],
            bank_txn_id,
            payment["reference"],
            SUSPENSE,
            on,
        )
        uow.billing.update_payment(
            bank_txn_id,
            enterprise_id=account["enterprise_id"],
            status="applied",
            applied=applied,
        )
        applied_ids.append(bank_txn_id)
    return applied_ids


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
        publish(
            uow,
            ev.PaymentMatched,
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
            uow, account, payment["amount_fen"], bank_txn_id, payment["reference"], SUSPENSE, on
        )
        uow.billing.update_payment(
            bank_txn_id, enterprise_id=enterprise_id, status="applied", applied=applied
        )
        uow.commit()
    return {"bank_txn_id": bank_txn_id, "enterprise_id": enterprise_id, "applied": applied}
