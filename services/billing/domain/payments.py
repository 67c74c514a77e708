"""Payments from the bank: allocation to invoices, credit balance, suspense.

A bank payment (``bank.events/payment_received``: ``bank_txn_id``, payer USCC, amount —
an int ≥ 1 fen, as the contract checks it —, reference) is applied **exactly once per
bank_txn_id** (the service keeps the ids it applied: the same id with the same content
again has no effect, with other content it is refused as ``conflicting_duplicate`` —
``handlers.payments``). :func:`allocate` decides where the
money goes:

1. to the invoice whose number is the ``reference``, if it is the payer's and open;
2. then to the payer's other open invoices, **oldest due first** (``due_on``, then
   number);
3. what is left (an overpayment) becomes the account's **credit balance**, which is
   applied **automatically when the next invoice is issued** (``handlers.common``).

A payer whose USCC matches no account goes to **suspense** (Dr cash, Cr suspense; event
``payment_unmatched`` with ``why`` = ``unknown_payer``); an operator later matches it to
an account (``payment_matched``; only a payment still in suspense, else refused
``not_in_suspense``), which then applies it by the same :func:`allocate`, the money
coming out of suspense instead of cash (and whatever USCC the bank reported). Keeping,
posting and matching the payment are the use cases' (``handlers.payments``): there is no
rule in them beyond that refusal, so no domain copy of them.
"""

from __future__ import annotations

from collections.abc import Iterable

from services.billing.domain.invoices import Invoice


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
