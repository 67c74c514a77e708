"""What a monthly statement shows: plain values, filled by the billing service from an
enterprise's account, rendered by :func:`services.billing.statement.render_statement`.

Every amount is integer fen. Signs are the account's: a charge (invoice, late fee) raises
what the enterprise owes; a credit note and a payment lower it. A balance above zero is
owed by the enterprise; below zero it is a credit the park holds for it (an overpayment).
"""

from dataclasses import dataclass, field
from datetime import date, datetime

from shared.money import require_fen


def _fen(owner: object, *names: str) -> None:
    for name in names:
        try:
            require_fen(getattr(owner, name))
        except TypeError as error:
            raise TypeError(f"{type(owner).__name__}.{name}: {error}") from None


def _not_negative(owner: object, *names: str) -> None:
    for name in names:
        if getattr(owner, name) < 0:
            raise ValueError(f"{type(owner).__name__}.{name} must not be negative")


@dataclass(frozen=True)
class ChargeLine:
    """One line of an invoice: its category (``rent``, ``water``…), what it is, its
    tax-inclusive total and the VAT split out of it (``tax_rate`` a decimal string)."""

    category: str
    description: str
    total_fen: int  # tax included
    tax_fen: int
    tax_rate: str | None = None  # "0.09"; shown as 9 %

    def __post_init__(self) -> None:
        _fen(self, "total_fen", "tax_fen")


@dataclass(frozen=True)
class StatementInvoice:
    """An issued invoice of the period with all its lines; its totals are their sums."""

    number: str  # AUX-2026-000123
    issued_on: date
    due_on: date
    lines: tuple[ChargeLine, ...]
    status: str = "issued"  # issued | partially_paid | paid | overdue

    def __post_init__(self) -> None:
        object.__setattr__(self, "lines", tuple(self.lines))

    @property
    def total_fen(self) -> int:
        return sum(line.total_fen for line in self.lines)

    @property
    def tax_fen(self) -> int:
        return sum(line.tax_fen for line in self.lines)


@dataclass(frozen=True)
class StatementCreditNote:
    """A credit note of the period: the (positive) amount it takes off the account."""

    number: str
    issued_on: date
    invoice_number: str | None  # the invoice it corrects
    reason: str
    total_fen: int  # tax included, ≥ 0
    tax_fen: int = 0

    def __post_init__(self) -> None:
        _fen(self, "total_fen", "tax_fen")
        _not_negative(self, "total_fen")


@dataclass(frozen=True)
class StatementPayment:
    """Money received in the period (≥ 0), with what it was applied to."""

    bank_txn_id: str
    received_on: date
    amount_fen: int
    applied_to: str = ""  # invoice numbers, or "" for a credit balance

    def __post_init__(self) -> None:
        _fen(self, "amount_fen")
        _not_negative(self, "amount_fen")


@dataclass(frozen=True)
class StatementLateFee:
    """A late-payment penalty (违约金) charged on the account in the period, outside an
    invoice. (A late fee billed as an invoice line belongs in that invoice's lines.)"""

    invoice_number: str  # the overdue invoice it accrued on
    charged_on: date
    description: str
    amount_fen: int

    def __post_init__(self) -> None:
        _fen(self, "amount_fen")


@dataclass(frozen=True)
class Statement:
    """One enterprise's statement for one period (park-local dates, both inclusive)."""

    park_name: str
    enterprise_id: str
    enterprise_name: str
    uscc: str
    period_start: date
    period_end: date
    opening_balance_fen: int
    invoices: tuple[StatementInvoice, ...] = ()
    credit_notes: tuple[StatementCreditNote, ...] = ()
    payments: tuple[StatementPayment, ...] = ()
    late_fees: tuple[StatementLateFee, ...] = ()
    park_header: tuple[str, ...] = ()  # address, phone, bank account… one line each
    generated_at: datetime | None = None  # UTC
    currency_note: str = field(default="金额单位：人民币元 (CNY)")

    def __post_init__(self) -> None:
        _fen(self, "opening_balance_fen")
        for name in ("invoices", "credit_notes", "payments", "late_fees", "park_header"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if self.period_end < self.period_start:
            raise ValueError("Statement.period_end is before period_start")

    @property
    def invoiced_fen(self) -> int:
        return sum(invoice.total_fen for invoice in self.invoices)

    @property
    def invoiced_tax_fen(self) -> int:
        return sum(invoice.tax_fen for invoice in self.invoices)

    @property
    def credited_fen(self) -> int:
        return sum(note.total_fen for note in self.credit_notes)

    @property
    def credited_tax_fen(self) -> int:
        return sum(note.tax_fen for note in self.credit_notes)

    @property
    def paid_fen(self) -> int:
        return sum(payment.amount_fen for payment in self.payments)

    @property
    def late_fees_fen(self) -> int:
        return sum(fee.amount_fen for fee in self.late_fees)

    @property
    def closing_balance_fen(self) -> int:
        """Opening + invoices + late fees − credit notes − payments."""
        return (
            self.opening_balance_fen
            + self.invoiced_fen
            + self.late_fees_fen
            - self.credited_fen
            - self.paid_fen
        )
