"""The events a claim causes, as frozen dataclasses; ``shared.payloads.event_payload``
turns each into its ``buyback.events`` payload (``occurred_at`` and ``park_id`` go to the
envelope). The payloads are registered in ``shared/contract/buyback.py``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import ClassVar

from services.buyback.domain.reasons import Reason


@dataclass(frozen=True)
class ClaimUnit:
    """A unit of a claim at its recorded original price."""

    unit_id: str
    price_fen: int


@dataclass(frozen=True)
class Offset:
    """What billing took off the gross: ``kind``, the invoice (or None), the amount."""

    kind: str
    invoice_id: str | None
    amount_fen: int


@dataclass(frozen=True, kw_only=True)
class DomainEvent:
    event_type: ClassVar[str]
    occurred_at: datetime
    park_id: str | None
    claim_id: str
    enterprise_id: str


@dataclass(frozen=True, kw_only=True)
class ClaimFiled(DomainEvent):
    event_type: ClassVar[str] = "claim_filed"
    reason: str
    evidence: tuple[str, ...]
    received_on: date
    window_ends_on: date
    units: tuple[ClaimUnit, ...]
    gross_fen: int


@dataclass(frozen=True, kw_only=True)
class ClaimIneligible(DomainEvent):
    event_type: ClassVar[str] = "claim_ineligible"
    reasons: tuple[Reason, ...]


@dataclass(frozen=True, kw_only=True)
class ClaimDuplicateRefused(DomainEvent):
    event_type: ClassVar[str] = "claim_duplicate_refused"
    reasons: tuple[Reason, ...]


@dataclass(frozen=True, kw_only=True)
class ClaimReviewRequested(DomainEvent):
    event_type: ClassVar[str] = "claim_review_requested"
    reviews: tuple[str, ...]
    reason: str
    evidence: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class ClaimApproved(DomainEvent):
    event_type: ClassVar[str] = "claim_approved"
    reviews: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class ClaimRejected(DomainEvent):
    event_type: ClassVar[str] = "claim_rejected"
    rejected_by: tuple[str, ...]
    reasons: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class SettlementRequested(DomainEvent):
    event_type: ClassVar[str] = "settlement_requested"
    units: tuple[ClaimUnit, ...]
    gross_fen: int


@dataclass(frozen=True, kw_only=True)
class ClaimSettled(DomainEvent):
    event_type: ClassVar[str] = "claim_settled"
    units: tuple[str, ...]
    gross_fen: int
    net_fen: int
    settled_on: date


@dataclass(frozen=True, kw_only=True)
class ClaimClosed(DomainEvent):
    event_type: ClassVar[str] = "claim_closed"
    units: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class ClaimWithdrawn(DomainEvent):
    event_type: ClassVar[str] = "claim_withdrawn"
    reason: str


@dataclass(frozen=True, kw_only=True)
class ClaimWithdrawalRefused(DomainEvent):
    event_type: ClassVar[str] = "claim_withdrawal_refused"
    code: str
    message: str


@dataclass(frozen=True, kw_only=True)
class ClaimEscalated(DomainEvent):
    event_type: ClassVar[str] = "claim_escalated"
    stage: str  # review | settlement | release
    reason: str
