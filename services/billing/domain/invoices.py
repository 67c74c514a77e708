"""Invoices, their numbers and states, and credit notes.

**Lines.** An invoice line is a :class:`~.charges.Charge` with its VAT split out
(:func:`line_for`): ``total_fen`` is tax-inclusive, ``tax_fen`` is
:func:`.vat.tax_included` of it at the line's ``vat_rate``; the invoice's total and tax
are the sums of its lines'.

**Numbers.** ``<PREFIX>-<YEAR>-<NNNNNN>`` (``AUX-2026-000123``): the gapless counter per
park per year is given by the repository; :func:`format_invoice_number` formats and
validates it.

**States.** An invoice is issued by the use case (``handlers.common.issue_invoice``:
numbered, ``due_on = issued_on + payment_due_days``, park-local dates, never for a total
of 0) — after that nothing but what was paid and credited ever changes (no edit, no
delete). Its :attr:`Invoice.status` follows from those: ``issued`` → ``partially_paid``
(something paid) → ``paid`` (nothing outstanding, by payments, credit notes or buyback
netting). An invoice is **overdue** on any day *after* ``due_on`` while something is
outstanding (:meth:`Invoice.is_overdue`); ``overdue_reported`` remembers that
``invoice_overdue`` was emitted.

**Credit notes** correct an issued invoice: ``amount_fen`` ≤ what is not yet credited,
with a reason and lines (:func:`credit_lines`: by default the invoice's lines are
credited in order). A credit note reduces what is owed; what it credits beyond the
outstanding amount (an invoice already paid) becomes the account's credit balance (the
use case's, ``handlers.credits``, which stores the note). A
credit line that exhausts an invoice line carries exactly that line's remaining tax, so
a fully credited invoice leaves no rounding residue in VAT payable. On a paid service's
line the credit also reverses the firm's payable in proportion (:func:`reversed_payable`;
exactly what is left of it when the line is exhausted): the firm is not paid for a
service the park credited, and the park's commission revenue shrinks alike.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from services.billing.domain.charges import Charge
from services.billing.domain.errors import Refused
from services.billing.domain.vat import Category, tax_included
from shared.money import require_fen, round_fen

PREFIX_PATTERN = re.compile(r"[A-Z][A-Z0-9]{0,11}")
MAX_COUNTER = 999_999


def validate_prefix(prefix: str) -> str:
    """An invoice prefix: an upper-case letter then up to 11 upper-case letters/digits."""
    if not isinstance(prefix, str) or not PREFIX_PATTERN.fullmatch(prefix):
        raise ValueError(f"invoice prefix {prefix!r} must match {PREFIX_PATTERN.pattern}")
    return prefix


def format_invoice_number(prefix: str, year: int, counter: int) -> str:
    """``("AUX", 2026, 123)`` → ``"AUX-2026-000123"``; the counter is 1…999,999."""
    validate_prefix(prefix)
    if isinstance(year, bool) or not isinstance(year, int) or not 2000 <= year <= 9999:
        raise ValueError(f"invoice year {year!r} is out of range")
    if isinstance(counter, bool) or not isinstance(counter, int) or not 1 <= counter <= MAX_COUNTER:
        raise ValueError(f"invoice counter {counter!r} must be 1…{MAX_COUNTER}")
    return f"{prefix}-{year:04d}-{counter:06d}"


class InvoiceStatus(StrEnum):
    ISSUED = "issued"
    PARTIALLY_PAID = "partially_paid"
    PAID = "paid"


@dataclass(frozen=True, kw_only=True)
class InvoiceLine:
    """A charge with its VAT: ``total_fen`` tax-inclusive, ``tax_fen`` split out."""

    category: Category
    description: str
    quantity: str
    unit_price_fen: int
    total_fen: int
    vat_rate: str
    tax_fen: int
    source: str
    proration: str | None = None
    ref_invoice_id: str | None = None
    #: A paid service's line: the firm's share of ``total_fen`` (the park's revenue is
    #: the rest, net of the line's VAT); 0 on every other line.
    payable_fen: int = 0

    @property
    def net_fen(self) -> int:
        return self.total_fen - self.tax_fen


def line_for(charge: Charge, rate: Decimal) -> InvoiceLine:
    """The invoice line of ``charge`` at VAT ``rate``."""
    return InvoiceLine(
        category=Category(charge.category),
        description=charge.description,
        quantity=charge.quantity,
        unit_price_fen=charge.unit_price_fen,
        total_fen=require_fen(charge.total_fen),
        vat_rate=str(rate),
        tax_fen=tax_included(charge.total_fen, rate),
        source=charge.source,
        proration=charge.proration,
        ref_invoice_id=charge.ref_invoice_id,
        payable_fen=charge.payable_fen,
    )


@dataclass(frozen=True, kw_only=True)
class CreditLine:
    """What a credit note takes off one invoice line (``line_index``), tax split out;
    on a paid service's line, ``payable_fen`` is the part of the firm's payable it
    reverses (the firm is not paid for what the park credited)."""

    line_index: int
    category: Category
    total_fen: int
    vat_rate: str
    tax_fen: int
    payable_fen: int = 0

    @property
    def net_fen(self) -> int:
        return self.total_fen - self.tax_fen


def amount_outstanding(total_fen: int, paid_fen: int, credited_fen: int) -> int:
    """What is still owed on an invoice of ``total_fen`` after what was paid and credited
    on it: never below zero (what a credit note gives beyond it is the account's credit
    balance, not a negative debt)."""
    return max(0, total_fen - paid_fen - credited_fen)


@dataclass(kw_only=True)
class Invoice:
    """An issued invoice of one enterprise (plain fields: ``handlers.common.invoice_view``
    makes one of a stored invoice), what was paid and credited on it, per line too, and
    its late-fee record."""

    invoice_id: str
    enterprise_id: str
    uscc: str
    lines: tuple[InvoiceLine, ...]
    number: str
    issued_on: date
    due_on: date
    paid_fen: int = 0
    credited_fen: int = 0
    credited_per_line: list[int] = field(default_factory=list)
    credited_tax_per_line: list[int] = field(default_factory=list)
    credited_payable_per_line: list[int] = field(default_factory=list)
    overdue_reported: bool = False
    late_fee_through: date | None = None
    late_fee_charged_fen: int = 0
    late_fee_waived: bool = False
    late_fee_waived_by: str | None = None
    late_fee_waived_reason: str | None = None
    late_fee_waived_at: datetime | None = None

    def __post_init__(self) -> None:
        self.lines = tuple(self.lines)
        if not self.lines:
            raise ValueError("an invoice has at least one line")
        if not self.credited_per_line:
            self.credited_per_line = [0] * len(self.lines)
            self.credited_tax_per_line = [0] * len(self.lines)
        if not self.credited_payable_per_line:
            self.credited_payable_per_line = [0] * len(self.lines)

    @property
    def total_fen(self) -> int:
        return sum(line.total_fen for line in self.lines)

    @property
    def tax_fen(self) -> int:
        return sum(line.tax_fen for line in self.lines)

    @property
    def outstanding_fen(self) -> int:
        """What is still owed."""
        return amount_outstanding(self.total_fen, self.paid_fen, self.credited_fen)

    @property
    def status(self) -> InvoiceStatus:
        """``paid`` once nothing is outstanding, else ``partially_paid`` once something
        was paid, else ``issued``."""
        if self.outstanding_fen == 0:
            return InvoiceStatus.PAID
        return InvoiceStatus.PARTIALLY_PAID if self.paid_fen > 0 else InvoiceStatus.ISSUED

    @property
    def creditable_fen(self) -> int:
        return self.total_fen - self.credited_fen

    @property
    def is_open(self) -> bool:
        return self.status is not InvoiceStatus.PAID

    def is_overdue(self, today: date) -> bool:
        return self.is_open and today > self.due_on


#: The reason of a release's credit notes, followed by the release date: how a later
#: release of the unit finds what an earlier one credited on a line.
RELEASE_REASON = "unit {unit_id} not held from "


def release_credit_fen(billed_fen: int, kept_fen: int, released_fen: int, left_fen: int) -> int:
    """What a release credits on a rent or property-fee line billed in advance: what was
    billed (``billed_fen``) less what the days still held are worth (``kept_fen``, the
    month's charge re-prorated to the release) less what earlier releases of the unit
    credited on the line (``released_fen``: a release moved earlier credits only the days
    between) — and never more than is left on the line (``left_fen``, after any credit,
    an operator's included). Example: rent 450,000, released with 10 of 30 days held
    (kept 150,000) after an operator credited 400,000: min(300,000, 50,000) = 50,000."""
    return max(0, min(billed_fen - kept_fen - released_fen, left_fen))


def reversed_payable(line: InvoiceLine, credited_fen: int) -> int:
    """The part of a paid service line's firm payable that a credit of ``credited_fen``
    on it reverses: the same share of the payable as of the line, rounded half up
    (``payable × credited / total``); the credit that exhausts the line takes exactly
    what is left of it (see :func:`credit_lines`)."""
    if not line.payable_fen:
        return 0
    return round_fen(Decimal(line.payable_fen) * credited_fen / line.total_fen)


def credit_lines(
    invoice: Invoice, amount_fen: int, line_amounts: dict[int, int] | None = None
) -> tuple[CreditLine, ...]:
    """The lines of a credit note of ``amount_fen``: ``line_amounts`` (line index →
    fen) if given, else the invoice's lines credited in order. Refused when an amount
    exceeds what is not yet credited on its line or the lines do not sum to the amount."""
    if require_fen(amount_fen) <= 0:
        raise Refused("invalid_credit_amount", f"a credit note of {amount_fen} fen")
    if amount_fen > invoice.creditable_fen:
        raise Refused(
            "credit_exceeds_invoice",
            f"{amount_fen} fen > {invoice.creditable_fen} fen not yet credited on {invoice.number}",
        )
    if line_amounts is None:
        line_amounts, left = {}, amount_fen
        for index, line in enumerate(invoice.lines):
            take = min(left, line.total_fen - invoice.credited_per_line[index])
            if take > 0:
                line_amounts[index] = take
                left -= take
    if sum(line_amounts.values()) != amount_fen:
        raise Refused("credit_lines_mismatch", "the credit lines do not sum to the amount")
    result = []
    for index, take in sorted(line_amounts.items()):
        if not 0 <= index < len(invoice.lines) or require_fen(take) <= 0:
            raise Refused("invalid_credit_line", f"line {index}: {take} fen")
        line = invoice.lines[index]
        remaining = line.total_fen - invoice.credited_per_line[index]
        if take > remaining:
            raise Refused("credit_exceeds_line", f"line {index}: {take} fen > {remaining} fen")
        if take == remaining:  # exhausting the line: exactly its remaining tax and payable
            tax = line.tax_fen - invoice.credited_tax_per_line[index]
            payable = line.payable_fen - invoice.credited_payable_per_line[index]
        else:
            tax = tax_included(take, Decimal(line.vat_rate))
            payable = reversed_payable(line, take)
        result.append(
            CreditLine(
                line_index=index,
                category=line.category,
                total_fen=take,
                vat_rate=line.vat_rate,
                tax_fen=tax,
                payable_fen=payable,
            )
        )
    return tuple(result)
