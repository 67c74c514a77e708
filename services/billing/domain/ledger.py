"""Double-entry postings: every money movement is one balanced :class:`Posting`
(:func:`posting`; the handlers store it, ``handlers.common.post``).

An entry's ``amount_fen`` is signed: **debit positive, credit negative**; a posting's
entries sum to zero, so the trial balance (the sum of every account's balance, which the
repository sums from the stored entries) is always zero. Accounts (plain strings, so the
repository stores them as they are):

======================== =====================================================
``receivables``          what enterprises owe on issued invoices (debit balance)
``revenue:<category>``   revenue net of VAT, one per :class:`~.vat.Category`
``vat_payable``          VAT collected on invoices (credit balance)
``cash``                 money received from the bank
``customer_credit``      overpayments and excess credits owed back or used next
``suspense``             money received from a payer billing does not know yet
``firm_payables``        what the park owes service firms (their share of fees)
``units_repurchased``    units taken back by a buyback, at what the park paid
``buyback_payable``      the net the park owes an enterprise after netting
======================== =====================================================

What each movement posts (Dr = debit, Cr = credit):

- invoice issued: Dr receivables total; per line (:func:`sale_entries`) Cr
  revenue:<category> its net of VAT less the firm's payable, Cr VAT its tax, Cr
  firm_payables the firm's payable (paid services only: the park's revenue is its
  commission);
- payment applied: Dr cash (or suspense, when matched from it); Cr receivables; an
  overpayment Cr customer_credit;
- credit balance used on an invoice: Dr customer_credit; Cr receivables;
- credit note: the reverse of :func:`sale_entries` for each credit line (revenue, VAT
  and the firm's payable it reverses); Cr receivables up to what was outstanding, the
  rest Cr customer_credit;
- payment to suspense: Dr cash; Cr suspense;
- buyback settled (after the cancelled purchase balance was credit-noted): Dr
  units_repurchased (gross less that balance); Cr receivables (the open invoices
  netted, oldest due first); Cr buyback_payable (the net paid out, if positive).
  Accrued late fees are invoiced before (so they are netted as receivables).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from services.billing.domain.vat import Category
from shared.money import require_fen

RECEIVABLES = "receivables"
VAT_PAYABLE = "vat_payable"
CASH = "cash"
CUSTOMER_CREDIT = "customer_credit"
SUSPENSE = "suspense"
FIRM_PAYABLES = "firm_payables"
UNITS_REPURCHASED = "units_repurchased"
BUYBACK_PAYABLE = "buyback_payable"


def revenue(category: Category) -> str:
    """The revenue account of a category: ``revenue:rent``."""
    return f"revenue:{Category(category).value}"


def sale_entries(category: Category, total_fen: int, tax_fen: int, payable_fen: int = 0):
    """The credits of one sold line (tax-inclusive ``total_fen``): ``[(account, fen)]``,
    credit negative — revenue net of VAT and of the firm's payable, VAT, the firm's
    payable. A credit note posts their negation (:func:`reversed_entries`)."""
    return [
        (revenue(category), -(total_fen - tax_fen - payable_fen)),
        (VAT_PAYABLE, -tax_fen),
        (FIRM_PAYABLES, -payable_fen),
    ]


def reversed_entries(entries):
    return [(account, -fen) for account, fen in entries]


class UnbalancedPosting(ValueError):
    """A posting whose entries do not sum to zero (a bug, never a business answer)."""


@dataclass(frozen=True, kw_only=True)
class Entry:
    account: str
    amount_fen: int  # debit > 0, credit < 0


@dataclass(frozen=True, kw_only=True)
class Posting:
    """One balanced money movement: its entries are integer fen and sum to zero, or it
    does not exist. ``memo`` says what it records (``invoice AUX-2026-000001``,
    ``payment <bank_txn_id>`` …)."""

    memo: str
    entries: tuple[Entry, ...]

    def __post_init__(self) -> None:
        if sum(require_fen(entry.amount_fen) for entry in self.entries) != 0:
            raise UnbalancedPosting(
                f"{self.memo}: {[(entry.account, entry.amount_fen) for entry in self.entries]}"
            )


def posting(memo: str, entries: Iterable[tuple[str, int]]) -> Posting:
    """The posting of signed ``(account, fen)`` entries (debit > 0, credit < 0), zero
    amounts dropped: :class:`UnbalancedPosting` if they do not sum to zero, TypeError if
    an amount is not an int (``handlers.common.post`` stores it)."""
    return Posting(
        memo=memo,
        entries=tuple(
            Entry(account=account, amount_fen=fen) for account, fen in entries if fen != 0
        ),
    )
