"""Payments from the bank: allocation to invoices, credit balance, suspense.

A :class:`Payment` (``bank_txn_id``, payer USCC, amount, reference) is applied **exactly
once per bank_txn_id** (the service keeps the ids it applied: the same id with the same
content again has no effect, with other content it is refused as
``conflicting_duplicate`` — ``handlers.payments``). :func:`allocate` decides where the
money goes:

1. to the invoice whose number is the ``reference``, if it is the payer's and open;
2. then to the payer's other open invoices, **oldest due first** (``due_on``, then
   number);
3. what is left (an overpayment) becomes the account's **credit balance**, which is
   applied **automatically when the next invoice is issued** (``handlers.common``).

A payer whose USCC matches no account goes to **suspense** (:class:`SuspenseItem`, event
``payment_unmatched`` with ``why`` = ``unknown_payer``); an operator later matches it to
an account (:func:`match_suspense_item`, event :func:`payment_matched`), which then
applies it by the same rules, the money coming out of suspense instead of cash (and
whatever USCC the bank reported). :func:`park_in_suspense` makes the item, its posting
(Dr cash, Cr suspense) and ``payment_unmatched``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from services.billing.domain.errors import Refused
from services.billing.domain.events import PaymentMatched, PaymentUnmatched
from services.billing.domain.invoices import Invoice
from services.billing.domain.ledger import CASH, SUSPENSE, Posting, post
from shared.money import require_fen

MAX_AMOUNT_FEN = 10**15


@dataclass(frozen=True, kw_only=True)
class Payment:
    """A payment as the bank reported it (``reference``: an invoice number or ``""``)."""

    bank_txn_id: str
    payer_uscc: str
    amount_fen: int
    received_at: datetime
    reference: str = ""

    def __post_init__(self) -> None:
        if not 0 < require_fen(self.amount_fen) <= MAX_AMOUNT_FEN:
            raise Refused("invalid_amount", f"amount_fen {self.amount_fen} is out of range")


def allocate(
    amount_fen: int, open_invoices: Iterable[Invoice], reference: str
) -> tuple[list[tuple[Invoice, int]], int]:
    """Where ``amount_fen`` goes: ``([(invoice, fen), …], remainder_fen)``."""
    candidates = [invoice for invoice in open_invoices if invoice.is_open]
    candidates.sort(
        key=lambda inv: (inv.number != reference or not reference, inv.due_on, inv.number)
    )
    plan, left = [], amount_fen
    for invoice in candidates:
        if left == 0:
            break
        take = min(left, invoice.outstanding_fen)
        if take > 0:
            plan.append((invoice, take))
            left -= take
    return plan, left


class SuspenseStatus(StrEnum):
    UNMATCHED = "unmatched"
    MATCHED = "matched"


@dataclass(kw_only=True)
class SuspenseItem:
    """A payment billing could not attribute: ``why`` it is in suspense, and once an
    operator matched it, to which enterprise, by whom and when."""

    payment: Payment
    why: str
    status: SuspenseStatus = SuspenseStatus.UNMATCHED
    matched_enterprise_id: str | None = None
    matched_by: str | None = None
    matched_at: datetime | None = None


def park_in_suspense(
    payment: Payment, why: str, park_id: str | None, at: datetime
) -> tuple[SuspenseItem, Posting, PaymentUnmatched]:
    """A payment nobody's: the suspense item, its posting (Dr cash, Cr suspense) and the
    ``payment_unmatched`` event (``why``: e.g. ``unknown_payer``)."""
    item = SuspenseItem(payment=payment, why=why)
    posting = post(
        "payment_unmatched",
        payment.bank_txn_id,
        None,
        at,
        {CASH: payment.amount_fen},
        {SUSPENSE: payment.amount_fen},
    )
    event = PaymentUnmatched(
        occurred_at=at,
        park_id=park_id,
        bank_txn_id=payment.bank_txn_id,
        payer_uscc=payment.payer_uscc,
        amount_fen=payment.amount_fen,
        reference=payment.reference,
        why=why,
    )
    return item, posting, event


def match_suspense_item(item: SuspenseItem, enterprise_id: str, by: str, at: datetime) -> Payment:
    """Mark ``item`` matched; returns the payment to apply to the account, the money
    coming out of suspense. The service publishes :func:`payment_matched` of the item."""
    if item.status is SuspenseStatus.MATCHED:
        raise Refused("already_matched", f"{item.payment.bank_txn_id} is already matched")
    if not by:
        raise Refused("invalid_match", "a match needs the operator's name")
    item.status = SuspenseStatus.MATCHED
    item.matched_enterprise_id = enterprise_id
    item.matched_by = by
    item.matched_at = at
    return item.payment


def payment_matched(item: SuspenseItem, park_id: str | None) -> PaymentMatched:
    """The ``payment_matched`` event of a matched suspense item."""
    if item.status is not SuspenseStatus.MATCHED:
        raise ValueError(f"{item.payment.bank_txn_id} is not matched")
    return PaymentMatched(
        occurred_at=item.matched_at,
        park_id=park_id,
        bank_txn_id=item.payment.bank_txn_id,
        enterprise_id=item.matched_enterprise_id,
        amount_fen=item.payment.amount_fen,
        matched_by=item.matched_by,
    )
