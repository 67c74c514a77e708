"""Domain events: what happened in onboarding, as plain frozen values.

Aggregates append these to their ``events`` list; the service layer writes each to the
outbox as the payload of an ``onboarding.events`` message of type ``event_type``. Fields
are ids, strings, ints, bools, dates and UTC datetimes (or tuples of those and of small
frozen values), so :func:`event_payload` turns any of them into JSON-ready data.
``occurred_at`` and ``park_id`` belong in the envelope, not the payload.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import ClassVar

from services.onboarding.domain.reasons import Reason
from services.onboarding.domain.units import AllocatedUnit
from shared.payloads import event_payload as event_payload  # one conversion for all


@dataclass(frozen=True, kw_only=True)
class DomainEvent:
    """Base of all onboarding events; ``event_type`` is the message's routing key."""

    event_type: ClassVar[str]
    occurred_at: datetime
    park_id: str | None


@dataclass(frozen=True, kw_only=True)
class ApplicationReceived(DomainEvent):
    """An application arrived; ``requested_units`` has floors expanded into rooms."""

    event_type = "application_received"
    application_id: str
    enterprise_name: str
    uscc: str
    industry_code: str
    tenure: str
    requested_units: tuple[str, ...]
    documents: tuple[str, ...]
    supply_chain_partner: bool


@dataclass(frozen=True, kw_only=True)
class ApplicationRejected(DomainEvent):
    """The application is rejected: every reason found on receipt, or one department's."""

    event_type = "application_rejected"
    application_id: str
    reasons: tuple[Reason, ...]
    department: str | None = None


@dataclass(frozen=True, kw_only=True)
class DuplicateSubmissionRefused(DomainEvent):
    """An application id came again with different content; the original is unchanged.

    Not an ``application_rejected``: the application itself may well be under review.
    """

    event_type = "duplicate_submission_refused"
    application_id: str
    reasons: tuple[Reason, ...]


@dataclass(frozen=True, kw_only=True)
class AcceptedWithDeficiencies(DomainEvent):
    """Accepted although required documents are missing (容缺): supply ``items`` by ``deadline``."""

    event_type = "application_accepted_with_deficiencies"
    application_id: str
    items: tuple[str, ...]
    deadline: datetime


@dataclass(frozen=True, kw_only=True)
class ReviewRequested(DomainEvent):
    """Joint review (联审) opened: each listed department is to approve or reject."""

    event_type = "review_requested"
    application_id: str
    departments: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class ReviewDecisionRecorded(DomainEvent):
    """A department's first decision on the application, which stands."""

    event_type = "review_decision_recorded"
    application_id: str
    department: str
    decision: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class ReviewDecisionRefused(DomainEvent):
    """A review decision was not taken; ``code`` is a :class:`~.reasons.ReasonCode`."""

    event_type = "review_decision_refused"
    application_id: str
    department: str
    decision: str
    code: str
    message: str


@dataclass(frozen=True, kw_only=True)
class DocumentsReceived(DomainEvent):
    """Documents arrived: which deficiency items they cleared, which remain, which are extra."""

    event_type = "documents_received"
    application_id: str
    enterprise_id: str | None
    documents: tuple[str, ...]
    cleared: tuple[str, ...]
    outstanding: tuple[str, ...]
    unrecognised: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class DocumentsRefused(DomainEvent):
    """Documents were supplied for an unknown or closed application; nothing changed."""

    event_type = "documents_refused"
    application_id: str
    code: str
    message: str


@dataclass(frozen=True, kw_only=True)
class ApplicationSuspended(DomainEvent):
    """The deficiency deadline passed before admission; the application is closed."""

    event_type = "application_suspended"
    application_id: str
    outstanding: tuple[str, ...]
    deadline: datetime


@dataclass(frozen=True, kw_only=True)
class ReviewOverdue(DomainEvent):
    """The joint review passed the park's time limit with departments yet to decide."""

    event_type = "review_overdue"
    application_id: str
    due_at: datetime
    pending_departments: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class ApplicationWithdrawn(DomainEvent):
    """The applicant or an operator withdrew the application; its units are released."""

    event_type = "application_withdrawn"
    application_id: str
    reason: str
    withdrawn_by: str


@dataclass(frozen=True, kw_only=True)
class WithdrawalRefused(DomainEvent):
    """The applicant's withdrawal was not taken: the application is already closed."""

    event_type = "withdrawal_refused"
    application_id: str
    code: str
    message: str


@dataclass(frozen=True, kw_only=True)
class DeficiencyEscalated(DomainEvent):
    """An admitted enterprise missed the deadline for one item: its officer takes it up."""

    event_type = "deficiency_escalated"
    application_id: str
    enterprise_id: str
    item: str
    deadline: datetime
    chief_service_officer: str


@dataclass(frozen=True, kw_only=True)
class EnterpriseAdmitted(DomainEvent):
    """Every department approved: the enterprise is admitted to the park."""

    event_type = "enterprise_admitted"
    application_id: str
    enterprise_id: str
    enterprise_name: str
    uscc: str
    industry_code: str
    tenure: str
    supply_chain_partner: bool
    environmental_review_required: bool
    chief_service_officer: str
    # For ticketing's work items (a firm contacts the enterprise); additive, optional.
    legal_representative: str | None = None
    contact_phone: str | None = None


@dataclass(frozen=True, kw_only=True)
class UnitsAllocated(DomainEvent):
    """The reserved units were sold or leased to the enterprise under one contract."""

    event_type = "units_allocated"
    application_id: str
    enterprise_id: str
    contract_id: str
    tenure: str
    units: tuple[AllocatedUnit, ...]
    lease_start: date | None = None  # a lease's first day (park date)
    lease_end: date | None = None  # the day a lease ends and its units return


@dataclass(frozen=True, kw_only=True)
class UnitsReleased(DomainEvent):
    """Units went back to inventory; ``reason`` is a :class:`ReleaseReason` value."""

    event_type = "units_released"
    units: tuple[str, ...]
    reason: str
    application_id: str | None = None
    enterprise_id: str | None = None
    claim_id: str | None = None  # set when a buyback settlement released the units
    contract_id: str | None = None  # the contract they were held under (None: reserved)


@dataclass(frozen=True, kw_only=True)
class ReleaseRefused(DomainEvent):
    """A buyback settlement's units were not returned to inventory (nothing changed):
    ``reasons`` say why, for an operator; the claim is stuck in buyback."""

    event_type = "release_refused"
    claim_id: str
    enterprise_id: str
    units: tuple[str, ...]
    reasons: tuple[Reason, ...]


@dataclass(frozen=True, kw_only=True)
class ProductionStarted(DomainEvent):
    """The enterprise started production; the ten-year buyback window runs from here."""

    event_type = "production_started"
    enterprise_id: str
    application_id: str
    started_on: date


@dataclass(frozen=True, kw_only=True)
class ChiefServiceOfficerReassigned(DomainEvent):
    """The enterprise has a new chief service officer (首席服务官)."""

    event_type = "chief_service_officer_reassigned"
    enterprise_id: str
    previous: str
    chief_service_officer: str


@dataclass(frozen=True, kw_only=True)
class ServiceVisitLogged(DomainEvent):
    """A service officer visited the enterprise."""

    event_type = "service_visit_logged"
    enterprise_id: str
    visit_id: str
    officer_id: str
    visited_on: date
    note: str


class ReleaseReason(StrEnum):
    """Why units went back to inventory."""

    APPLICATION_REJECTED = "application_rejected"
    APPLICATION_SUSPENDED = "application_suspended"
    APPLICATION_WITHDRAWN = "application_withdrawn"
    LEASE_ENDED = "lease_ended"
    BUYBACK_SETTLED = "buyback_settled"
