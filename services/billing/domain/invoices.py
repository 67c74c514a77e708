"""Invoices, their numbers and states, and credit notes.

**Lines.** An invoice line is a :class:`~.charges.Charge` with its VAT split out
(:func:`line_for`): ``total_fen`` is tax-inclusive, ``tax_fen`` is
:func:`.vat.tax_included` of it at the line's ``vat_rate``; the invoice's total and tax
are the sums of its lines'.

**Numbers.** ``<PREFIX>-<YEAR>-<NNNNNN>`` (``AUX-2026-000123``): the gapless counter per
park per year is given by the repository; :func:`format_invoice_number` formats and
validates it, :func:`parse_invoice_number` reads one back.

**States.** ``draft`` → ``issued`` → ``partially_paid`` → ``paid``. Only a draft has its
lines set; :meth:`Invoice.issue` gives it a number, ``issued_on`` and ``due_on =
issued_on + payment_due_days`` (park-local dates) — after that nothing but what was paid
and credited ever changes (no edit, no delete). An invoice is **overdue** on any day
*after* ``due_on`` while something is outstanding (:meth:`Invoice.is_overdue`);
``overdue_reported`` remembers that ``invoice_overdue`` was emitted. An invoice whose
outstanding amount reaches zero — by payments, credit notes or buyback netting — is
``paid``.

**Credit notes** correct an issued invoice: ``amount_fen`` ≤ what is not yet credited,
with a reason and lines (:func:`credit_lines`: by default the invoice's lines are
credited in order). A credit note reduces what is owed; what it credits beyond the
outstanding amount (an invoice already paid) becomes the account's credit balance. A
credit line that exhausts an invoice line carries exactly that line's remaining tax, so
a fully credited invoice leaves no rounding residue in VAT payable. On a paid service's
line the credit also reverses the firm's payable in proportion (:func:`reversed_payable`;
exactly what is left of it when the line is exhausted): the firm is not paid for a
service the park credited, and the park's commission revenue shrinks alike.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from services.billing.domain.charges import Charge
from services.billing.domain.errors import IllegalInvoiceTransition, Refused
from services.billing.domain.vat import Category, tax_included
from shared.money import require_fen, round_fen

PREFIX_PATTERN = re.compile(r"[A-Z][A-Z0-9]{0,11}")
NUMBER_PATTERN = re.compile(r"([A-Z][A-Z0-9]{0,11})-([0-9]{4})-([0-9]{6})")  # ASCII only
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


def parse_invoice_number(number: str) -> tuple[str, int, int]:
    """``"AUX-2026-000123"`` → ``("AUX", 2026, 123)``; ValueError if it is not one."""
    match = NUMBER_PATTERN.fullmatch(number) if isinstance(number, str) else None
    if match is None or int(match[3]) == 0:
        raise ValueError(f"{number!r} is not an invoice number")
    return match[1], int(match[2]), int(match[3])


class InvoiceStatus(StrEnum):
    DRAFT = "draft"
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


@dataclass(frozen=True, kw_only=True)
class CreditNote:
    """A correction of an issued invoice; ``by`` is the operator (None: the system,
    e.g. a buyback cancelling an instalment)."""

    credit_note_id: str
    invoice_id: str
    amount_fen: int
    tax_fen: int
    reason: str
    lines: tuple[CreditLine, ...]
    issued_at: datetime
    by: str | None = None


@dataclass(kw_only=True)
class Invoice:
    """An invoice of one enterprise (plain fields: the repository maps them as they are)."""

    invoice_id: str
    enterprise_id: str
    uscc: str
    lines: tuple[InvoiceLine, ...]
    status: InvoiceStatus = InvoiceStatus.DRAFT
    number: str | None = None
    issued_on: date | None = None
    due_on: date | None = None
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
        self.status = InvoiceStatus(self.status)
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
        """What is still owed (0 for a draft: nothing is owed before issue)."""
        if self.status is InvoiceStatus.DRAFT:
            return 0
        return max(0, self.total_fen - self.paid_fen - self.credited_fen)

    @property
    def creditable_fen(self) -> int:
        return self.total_fen - self.credited_fen

    @property
    def is_open(self) -> bool:
        return self.status in (InvoiceStatus.ISSUED, InvoiceStatus.PARTIALLY_PAID)

    def is_overdue(self, today: date) -> bool:
        return self.is_open and self.due_on is not None and today > self.due_on

    def issue(self, number: str, issued_on: date, payment_due_days: int) -> None:
        if self.status is not InvoiceStatus.DRAFT:
            raise IllegalInvoiceTransition(f"invoice {self.invoice_id} is already {self.status}")
        try:
            _prefix, year, _counter = parse_invoice_number(number)
        except ValueError as error:
            raise Refused("invalid_invoice_number", str(error)) from None
        if year != issued_on.year:
            raise Refused("invalid_invoice_number", f"{number} is not of {issued_on.year}")
        if self.total_fen <= 0:
            raise Refused("empty_invoice", f"invoice {self.invoice_id} totals {self.total_fen}")
        self.number = number
        self.issued_on = issued_on
        self.due_on = issued_on + timedelta(days=payment_due_days)
        self.status = InvoiceStatus.ISSUED

    def receive(self, amount_fen: int) -> bool:
        """Record ``amount_fen`` (≤ outstanding) paid; True if the invoice became paid."""
        if not self.is_open:
            raise IllegalInvoiceTransition(f"invoice {self.invoice_id} is {self.status}")
        if not 0 < require_fen(amount_fen) <= self.outstanding_fen:
            raise ValueError(f"{amount_fen} is not within the outstanding {self.outstanding_fen}")
        self.paid_fen += amount_fen
        return self._settle_status()

    def _settle_status(self) -> bool:
        if self.outstanding_fen == 0:
            self.status = InvoiceStatus.PAID
            return True
        if self.paid_fen > 0:
            self.status = InvoiceStatus.PARTIALLY_PAID
        return False

    def apply_credit(self, note: CreditNote) -> tuple[int, bool]:
        """Apply a credit note; returns (the part beyond what was outstanding — for the
        account's credit balance —, whether the invoice became paid)."""
        if self.status is InvoiceStatus.DRAFT:
            raise IllegalInvoiceTransition("a draft is not credited: it is redrafted")
        if note.amount_fen > self.creditable_fen:
            raise Refused("credit_exceeds_invoice", "more than is not yet credited")
        before = self.outstanding_fen
        for line in note.lines:
            self.credited_per_line[line.line_index] += line.total_fen
            self.credited_tax_per_line[line.line_index] += line.tax_fen
            self.credited_payable_per_line[line.line_index] += line.payable_fen
        self.credited_fen += note.amount_fen
        excess = note.amount_fen - (before - self.outstanding_fen)
        was_open = self.is_open
        became_paid = self._settle_status() and was_open
        return excess, became_paid


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
