"""Domain events: what happened on billing's accounts, as plain frozen values.

The use cases publish these (``handlers.common.publish``): each is written to the
outbox as the payload of a ``billing.events`` message of type ``event_type`` (DESIGN §5
fixes the names). :func:`event_payload` (one for all services, in ``shared.payloads``)
turns any of them into JSON-ready data (``occurred_at`` and ``park_id`` belong to the
envelope, not the payload).

Every invoice event carries ``invoice_id``, ``number`` and ``enterprise_id``; every
payment event ``bank_txn_id``. Additions to DESIGN §5 (documented in ``docs/billing.md``):

- ``credit_applied`` — the account's credit balance paid (part of) a newly issued
  invoice (``invoice_id``, ``number``, ``amount_fen``, ``credit_balance_fen`` left);
- ``payment_credited`` — an overpayment went to the credit balance;
- ``payment_matched`` — an operator matched a payment in suspense;
- ``firm_payable_recorded`` — a paid service's share owed to the firm;
- ``reading_anomaly`` — a decreasing or conflicting reading (never billed);
- ``late_fee_waived`` — an operator waived an invoice's late fees (who, why);
- ``buyback_netted`` — a settled claim's offsets were taken off the account
  (``payout_fen`` = the net if positive, ``still_owed_fen`` = minus the net if negative).
- ``credit_balance_changed`` — the credit balance moved (e.g. a credit note beyond what
  its invoice owed; ``number`` names the invoice);
- ``firm_payable_adjusted`` — a credit note on a paid service's line reversed part of
  the firm's payable;
- ``meter_rebaselined`` — an operator rebaselined a (replaced) meter.

This module is the one definition of every payload billing publishes.

Field names follow ``shared/contract/billing.py`` (lines carry ``tax_rate``); a unit test
validates every event the use cases publish against those schemas.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import ClassVar

from shared.payloads import event_payload as event_payload  # one conversion for all


@dataclass(frozen=True, kw_only=True)
class DomainEvent:
    """Base of all billing events; ``event_type`` is the message's routing key."""

    event_type: ClassVar[str]
    occurred_at: datetime
    park_id: str | None


@dataclass(frozen=True, kw_only=True)
class EventLine:
    """An invoice line as published: tax-inclusive total, its tax, its VAT rate."""

    category: str
    description: str
    quantity: str
    unit_price_fen: int
    total_fen: int
    tax_rate: str
    tax_fen: int


@dataclass(frozen=True, kw_only=True)
class EventCreditLine:
    """What a credit note takes off one line (``line_index``) of its invoice."""

    line_index: int
    category: str
    total_fen: int
    tax_rate: str
    tax_fen: int


@dataclass(frozen=True, kw_only=True)
class InvoiceIssued(DomainEvent):
    event_type = "invoice_issued"
    invoice_id: str
    number: str
    enterprise_id: str
    uscc: str
    total_fen: int
    tax_fen: int
    issued_on: date
    due_on: date
    lines: tuple[EventLine, ...]


@dataclass(frozen=True, kw_only=True)
class PaymentApplied(DomainEvent):
    event_type = "payment_applied"
    bank_txn_id: str
    invoice_id: str
    number: str
    enterprise_id: str
    amount_fen: int
    outstanding_fen: int


@dataclass(frozen=True, kw_only=True)
class PaymentCredited(DomainEvent):
    """What a payment left after every open invoice went to the credit balance."""

    event_type = "payment_credited"
    bank_txn_id: str
    enterprise_id: str
    amount_fen: int
    credit_balance_fen: int


@dataclass(frozen=True, kw_only=True)
class CreditApplied(DomainEvent):
    event_type = "credit_applied"
    invoice_id: str
    number: str
    enterprise_id: str
    amount_fen: int
    credit_balance_fen: int


@dataclass(frozen=True, kw_only=True)
class InvoicePaid(DomainEvent):
    event_type = "invoice_paid"
    invoice_id: str
    number: str
    enterprise_id: str
    paid_on: date | None = None


@dataclass(frozen=True, kw_only=True)
class InvoiceOverdue(DomainEvent):
    event_type = "invoice_overdue"
    invoice_id: str
    number: str
    enterprise_id: str
    due_on: date
    outstanding_fen: int


@dataclass(frozen=True, kw_only=True)
class LateFeeCharged(DomainEvent):
    """A late fee accrued on the overdue ``invoice_id`` for ``days`` to ``through`` at
    ``daily_rate`` on ``principal_fen``; ``capped`` when the park's cap cut it. The same
    cycle bills it on the enterprise's late-fee invoice."""

    event_type = "late_fee_charged"
    invoice_id: str
    number: str
    enterprise_id: str
    amount_fen: int
    days: int
    through: date
    daily_rate: str
    principal_fen: int
    capped: bool


@dataclass(frozen=True, kw_only=True)
class LateFeeWaived(DomainEvent):
    event_type = "late_fee_waived"
    invoice_id: str
    number: str
    enterprise_id: str
    by: str
    reason: str
    credited_fen: int


@dataclass(frozen=True, kw_only=True)
class CreditNoteIssued(DomainEvent):
    event_type = "credit_note_issued"
    credit_note_id: str
    invoice_id: str
    number: str
    enterprise_id: str
    amount_fen: int
    tax_fen: int
    reason: str
    by: str | None
    lines: tuple[EventCreditLine, ...]


@dataclass(frozen=True, kw_only=True)
class PaymentUnmatched(DomainEvent):
    event_type = "payment_unmatched"
    bank_txn_id: str
    payer_uscc: str
    amount_fen: int
    reference: str
    why: str


@dataclass(frozen=True, kw_only=True)
class PaymentMatched(DomainEvent):
    """An operator matched a payment in suspense to an enterprise (then applied)."""

    event_type = "payment_matched"
    bank_txn_id: str
    enterprise_id: str
    amount_fen: int
    matched_by: str
    note: str | None = None


@dataclass(frozen=True, kw_only=True)
class FirmPayableRecorded(DomainEvent):
    """The park owes ``firm_id`` ``payable_fen``: the ticket's fee less its commission."""

    event_type = "firm_payable_recorded"
    ticket_id: str
    firm_id: str
    enterprise_id: str
    fee_fen: int
    commission_rate: str
    commission_fen: int
    payable_fen: int
    request_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class FirmPayableAdjusted(DomainEvent):
    """A credit note on a paid service's line reversed ``-change_fen`` of the firm's
    payable (:func:`.invoices.reversed_payable`)."""

    event_type = "firm_payable_adjusted"
    ticket_id: str | None
    firm_id: str | None
    enterprise_id: str
    invoice_id: str
    number: str
    credit_note_id: str
    change_fen: int
    reason: str


@dataclass(frozen=True, kw_only=True)
class CreditBalanceChanged(DomainEvent):
    """The account's credit balance moved by ``change_fen`` (e.g. a credit note beyond
    what its invoice owed, ``why`` ``credit_note``)."""

    event_type = "credit_balance_changed"
    enterprise_id: str
    change_fen: int
    balance_fen: int
    why: str
    bank_txn_id: str | None = None
    invoice_id: str | None = None
    number: str | None = None


@dataclass(frozen=True, kw_only=True)
class MeterRebaselined(DomainEvent):
    """An operator rebaselined a meter; ``billed_fen`` of its old use invoiced first."""

    event_type = "meter_rebaselined"
    meter_id: str
    unit_id: str
    kind: str
    previous_reading: str | None
    reading: str
    read_at: datetime
    billed_fen: int
    by: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class ReadingAnomaly(DomainEvent):
    """A reading not charged, for a person: ``why`` ``decrease`` or ``conflict``
    (:class:`~.charges.ReadingOutcome`). Built by the service, which knows the meter."""

    event_type = "reading_anomaly"
    meter_id: str
    unit_id: str
    reading: str
    read_at: datetime
    why: str
    kind: str | None = None
    previous_reading: str | None = None
    previous_read_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class OffsetLine:
    kind: str
    invoice_id: str | None
    amount_fen: int


@dataclass(frozen=True, kw_only=True)
class BuybackSettlementComputed(DomainEvent):
    event_type = "buyback_settlement_computed"
    claim_id: str
    enterprise_id: str
    gross_fen: int
    offsets: tuple[OffsetLine, ...]
    net_fen: int


@dataclass(frozen=True, kw_only=True)
class BuybackNetted(DomainEvent):
    """After ``claim_settled``: what was netted, what is paid out, what is still owed."""

    event_type = "buyback_netted"
    claim_id: str
    enterprise_id: str
    gross_fen: int
    net_fen: int
    payout_fen: int
    still_owed_fen: int
    settled_on: date
