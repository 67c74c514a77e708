"""The application aggregate: receipt, joint review (联审), accept-with-deficiencies (容缺)
deadlines, and admission with unit allocation.

States::

    received ──(value rules fail)──────────────────────────────▶ rejected
       │ units reserved, review requested, deficiencies noted
       ▼
    under_review ──(a department rejects)──────────────────────▶ rejected
       │         ──(deadline passes, items still missing)──────▶ suspended
       │         ──(the applicant or an operator withdraws)────▶ withdrawn
       │         (past the park's review time limit: review_overdue, once)
       │ every department approves
       ▼
    admitted  (overdue items now escalate to the chief service officer)

``received`` lasts only inside :meth:`Application.receive`. ``rejected``, ``suspended``,
``withdrawn`` and ``admitted`` are final for the review; an admitted application still takes the
documents it owes. Closing without admission releases the reserved units.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from services.onboarding.domain.admission import AdmissionContext, admit
from services.onboarding.domain.deficiencies import DeficiencyItem, clear_items, due_for_escalation
from services.onboarding.domain.enterprises import Enterprise
from services.onboarding.domain.errors import ApplicationClosed
from services.onboarding.domain.events import (
    AcceptedWithDeficiencies,
    ApplicationReceived,
    ApplicationRejected,
    ApplicationSuspended,
    ApplicationWithdrawn,
    DeficiencyEscalated,
    DocumentsReceived,
    DomainEvent,
    DuplicateSubmissionRefused,
    EnterpriseAdmitted,
    ReleaseReason,
    ReviewDecisionRecorded,
    ReviewDecisionRefused,
    ReviewOverdue,
    ReviewRequested,
    UnitsAllocated,
    UnitsReleased,
)
from services.onboarding.domain.park import AdmissionPolicy, ParkDefinition, normalise_document_name
from services.onboarding.domain.reasons import Reason, ReasonCode
from services.onboarding.domain.submissions import Submission, check_submission
from services.onboarding.domain.timekeeping import require_aware, require_utc
from services.onboarding.domain.units import Unit, release_reservations, reserve_units

DeadlineFor = Callable[[datetime, int], datetime]
"""``deadline_for(now, business_days)`` → the aware instant the deadline ends; the caller
supplies it from the business calendar (a day-deadline ends at 24:00 park time)."""


class ApplicationStatus(StrEnum):
    """Where an application stands; see the module docstring for the transitions."""

    RECEIVED = "received"
    UNDER_REVIEW = "under_review"
    ADMITTED = "admitted"
    REJECTED = "rejected"
    SUSPENDED = "suspended"
    WITHDRAWN = "withdrawn"


class Withdrawer(StrEnum):
    """Who withdrew an application."""

    APPLICANT = "applicant"
    OPERATOR = "operator"


class Decision(StrEnum):
    """A joint-review department's decision."""

    APPROVE = "approve"
    REJECT = "reject"


@dataclass(frozen=True)
class ReviewDecision:
    """A department's recorded decision; the first one stands."""

    department: str
    decision: Decision
    reason: str
    decided_at: datetime


@dataclass(eq=False)
class Application:
    """An enterprise's application to a park, from receipt to admission or closure."""

    submission: Submission
    received_at: datetime
    status: ApplicationStatus = ApplicationStatus.RECEIVED
    unit_ids: tuple[str, ...] = ()  # requested units with floors expanded
    review_departments: tuple[str, ...] = ()
    decisions: dict[str, ReviewDecision] = field(default_factory=dict)
    deficiencies: list[DeficiencyItem] = field(default_factory=list)
    documents_on_file: list[str] = field(default_factory=list)
    rejection_reasons: tuple[Reason, ...] = ()
    enterprise_id: str | None = None
    closed_at: datetime | None = None
    review_due_at: datetime | None = None  # the park's review time limit ends then
    review_overdue_at: datetime | None = None  # when the overdue review was escalated
    events: list[DomainEvent] = field(default_factory=list, repr=False)

    @property
    def application_id(self) -> str:
        return self.submission.application_id

    @property
    def park_id(self) -> str:
        return self.submission.park_id

    @property
    def is_closed(self) -> bool:
        """True once the review is over (admitted, rejected, suspended or withdrawn)."""
        return self.status in (
            ApplicationStatus.ADMITTED,
            ApplicationStatus.REJECTED,
            ApplicationStatus.SUSPENDED,
            ApplicationStatus.WITHDRAWN,
        )

    @property
    def outstanding_items(self) -> tuple[str, ...]:
        """The documents still owed."""
        return tuple(item.document for item in self.deficiencies if item.outstanding)

    @property
    def deficiency_deadline(self) -> datetime | None:
        """When the missing documents are due, if any were missing on receipt."""
        return self.deficiencies[0].due_at if self.deficiencies else None

    @property
    def next_deadline(self) -> datetime | None:
        """The earliest instant at which the deadline timer has something to do here:
        suspension or an overdue review under review, escalation of an overdue item
        after admission."""
        if self.status == ApplicationStatus.UNDER_REVIEW:
            deadlines = [self.deficiency_deadline] if self.outstanding_items else []
            if self.review_due_at is not None and self.review_overdue_at is None:
                deadlines.append(self.review_due_at)
            return min(deadlines, default=None)
        if self.status == ApplicationStatus.ADMITTED:
            pending = [
                i.due_at for i in self.deficiencies if i.outstanding and i.escalated_at is None
            ]
            return min(pending, default=None)
        return None

    # -- receipt ----------------------------------------------------------------------

    @classmethod
    def receive(
        cls,
        submission: Submission,
        park: ParkDefinition | None,
        units: Mapping[str, Unit],
        now: datetime,
        deadline_for: DeadlineFor,
        *,
        pending: Sequence[str] = (),
    ) -> Application:
        """Take in a new submission: reject it with every reason found, or reserve its
        units, note missing documents with their deadline and open the joint review.

        ``units`` maps unit id → the park's units for the requested ids (floors
        expanded with :meth:`ParkDefinition.resolve_requested_units`), locked by the
        caller. ``pending`` lists the other applications of the same USCC to this park
        still under review: one enterprise has one application pending at a time
        (``application_pending``). A rejected application is returned too, so that the
        same id sent again can be recognised as a duplicate.
        """
        require_utc(now)
        unit_ids = (
            park.resolve_requested_units(submission.requested_units)
            if park
            else tuple(dict.fromkeys(submission.requested_units))
        )
        application = cls(submission=submission, received_at=now, unit_ids=unit_ids)
        application.documents_on_file = list(submission.documents)
        application._record_receipt(now)
        reasons = check_submission(submission, park, units)
        if pending:
            reasons.append(
                Reason(
                    ReasonCode.APPLICATION_PENDING,
                    f"enterprise {submission.enterprise.uscc} already has application "
                    f"{', '.join(pending)} under review here; wait for its outcome",
                    "enterprise.uscc",
                )
            )
        if not reasons:
            unavailable = reserve_units(
                [units[unit_id] for unit_id in unit_ids], application.application_id
            )
            reasons = [
                Reason(
                    ReasonCode.UNITS_UNAVAILABLE,
                    f"unit {unit_id} is not available",
                    "requested_units",
                )
                for unit_id in unavailable
            ]
        if reasons:
            application._reject(tuple(reasons), now, department=None, units=None)
            return application
        application._open_review(park.policy, now, deadline_for)
        return application

    def _record_receipt(self, now: datetime) -> None:
        submission = self.submission
        self._record(
            ApplicationReceived,
            now,
            enterprise_name=submission.enterprise.name,
            uscc=submission.enterprise.uscc,
            industry_code=submission.enterprise.industry_code,
            tenure=submission.tenure,
            requested_units=self.unit_ids,
            documents=submission.documents,
            supply_chain_partner=submission.supply_chain_partner,
        )

    def _open_review(
        self, policy: AdmissionPolicy, now: datetime, deadline_for: DeadlineFor
    ) -> None:
        missing = policy.missing_documents(self.submission.documents)
        if missing:
            deadline = require_aware(
                deadline_for(now, policy.deficiency_deadline_business_days), "deadline"
            )
            self.deficiencies = [DeficiencyItem(document, deadline) for document in missing]
            self._record(AcceptedWithDeficiencies, now, items=missing, deadline=deadline)
        self.status = ApplicationStatus.UNDER_REVIEW
        self.review_departments = policy.department_ids
        self.review_due_at = require_aware(
            deadline_for(now, policy.review_time_limit_business_days), "review deadline"
        )
        self._record(ReviewRequested, now, departments=self.review_departments)

    def resubmitted(self, submission: Submission, now: datetime) -> None:
        """The same application id arrived again: no effect if the content is the same,
        otherwise a ``conflicting_duplicate`` refusal; the application is unchanged."""
        require_utc(now)
        if self.submission.same_content_as(submission):
            return
        reason = Reason(
            ReasonCode.CONFLICTING_DUPLICATE,
            f"application {self.application_id} was already submitted with different "
            "content; submit a corrected application under a new application_id",
            "application_id",
        )
        self._record(DuplicateSubmissionRefused, now, reasons=(reason,))

    # -- joint review -----------------------------------------------------------------

    def record_decision(
        self,
        department: str,
        decision: Decision,
        reason: str,
        now: datetime,
        *,
        units: Mapping[str, Unit],
        admission: AdmissionContext | None,
    ) -> Enterprise | None:
        """Record a department's decision; returns the enterprise if this admits it.

        A department's first decision stands: the same decision again has no effect and
        records nothing (a redelivery), a different one is refused. Decisions on a closed
        application, or from a department not asked, are refused. Refusals are recorded
        as :class:`ReviewDecisionRefused`, never raised: they answer another system's
        event. One rejection rejects the application and releases its units; the last
        approval admits it. ``units`` must hold the application's units; ``admission``
        may be ``None`` only where no admission can follow (the park is unknown, so the
        application was rejected on receipt).
        """
        require_utc(now)
        decision = Decision(decision)  # raises on anything but approve / reject
        # The deficiency deadline holds whenever the application is touched, not only when
        # the timer comes by: a decision after it finds the application suspended.
        self.suspend_if_overdue(now, units)
        previous = self.decisions.get(department)
        if previous is not None and previous.decision == decision:
            return None
        if previous is not None:
            return self._refuse(
                department,
                decision,
                ReasonCode.DECISION_ALREADY_RECORDED,
                f"{department} already decided {previous.decision!s} on {self.application_id}",
                now,
            )
        if self.is_closed:
            return self._refuse(
                department,
                decision,
                ReasonCode.APPLICATION_CLOSED,
                f"application {self.application_id} is already {self.status}",
                now,
            )
        if department not in self.review_departments:
            return self._refuse(
                department,
                decision,
                ReasonCode.DEPARTMENT_NOT_REQUESTED,
                f"{department} was not asked to review {self.application_id} "
                f"(asked: {', '.join(self.review_departments)})",
                now,
            )
        self.decisions[department] = ReviewDecision(department, decision, reason, now)
        self._record(
            ReviewDecisionRecorded, now, department=department, decision=decision, reason=reason
        )
        if decision == Decision.REJECT:
            rejection = Reason(ReasonCode.REJECTED_BY_DEPARTMENT, f"{department}: {reason}")
            self._reject((rejection,), now, department=department, units=units)
            return None
        if set(self.decisions) >= set(self.review_departments):
            return self._admit(now, units, admission)
        return None

    def _refuse(
        self, department: str, decision: Decision, code: ReasonCode, message: str, now: datetime
    ) -> None:
        self._record(
            ReviewDecisionRefused,
            now,
            department=department,
            decision=decision,
            code=code,
            message=message,
        )

    def _reject(
        self,
        reasons: tuple[Reason, ...],
        now: datetime,
        *,
        department: str | None,
        units: Mapping[str, Unit] | None,
    ) -> None:
        """Close as rejected; ``units`` is ``None`` on receipt, when nothing was reserved."""
        self.status = ApplicationStatus.REJECTED
        self.rejection_reasons = reasons
        self.closed_at = now
        self._record(ApplicationRejected, now, reasons=reasons, department=department)
        if units is not None:
            self._release_units(units, ReleaseReason.APPLICATION_REJECTED, now)

    def _admit(
        self, now: datetime, units: Mapping[str, Unit], context: AdmissionContext | None
    ) -> Enterprise:
        if context is None:
            # A handler bug, not a business outcome: admission needs the park's policy.
            raise ValueError(f"admitting {self.application_id} needs an admission context")
        admission = admit(self.submission, self._units(units), now, context)
        enterprise = admission.enterprise
        self.status = ApplicationStatus.ADMITTED
        self.enterprise_id = enterprise.enterprise_id
        self.closed_at = now
        self._record(
            EnterpriseAdmitted,
            now,
            enterprise_id=enterprise.enterprise_id,
            enterprise_name=enterprise.name,
            uscc=enterprise.uscc,
            industry_code=enterprise.industry_code,
            tenure=self.submission.tenure,
            supply_chain_partner=enterprise.supply_chain_partner,
            environmental_review_required=enterprise.environmental_review_required,
            chief_service_officer=enterprise.chief_service_officer,
            legal_representative=self.submission.enterprise.legal_representative,
            contact_phone=self.submission.enterprise.contact_phone,
        )
        self._record(
            UnitsAllocated,
            now,
            enterprise_id=enterprise.enterprise_id,
            contract_id=admission.contract_id,
            tenure=self.submission.tenure,
            units=admission.allocated,
            lease_start=admission.lease_start,
            lease_end=admission.lease_end,
        )
        return enterprise

    # -- accept-with-deficiencies -----------------------------------------------------

    def supply_documents(
        self,
        documents: Iterable[str],
        now: datetime,
        *,
        units: Mapping[str, Unit] | None = None,
    ) -> None:
        """Take documents the applicant supplied later: clear the deficiency items they
        match, keep any others on file as extras. Documents already on file change
        nothing and record nothing. Refused (:class:`ApplicationClosed`) once the
        application was rejected, suspended or withdrawn; an admitted one still owes its
        items. Documents arriving at or after the deficiency deadline of an application
        under review come too late: it is suspended first (releasing ``units``, which
        must then hold the application's units), then they are refused.
        """
        require_utc(now)
        if self._deficiency_overdue(now):
            if units is None:
                raise ValueError(f"suspending {self.application_id} needs its units")
            self.suspend_if_overdue(now, units)
        if self.status in (
            ApplicationStatus.REJECTED,
            ApplicationStatus.SUSPENDED,
            ApplicationStatus.WITHDRAWN,
        ):
            raise ApplicationClosed(f"application {self.application_id} is {self.status}")
        on_file = {normalise_document_name(name) for name in self.documents_on_file}
        new = [
            name
            for name in dict.fromkeys(documents)
            if normalise_document_name(name) not in on_file
        ]
        if not new:
            return
        self.documents_on_file += new
        cleared = clear_items(self.deficiencies, new, now)
        matched = {normalise_document_name(name) for name in cleared}
        self._record(
            DocumentsReceived,
            now,
            enterprise_id=self.enterprise_id,
            documents=tuple(new),
            cleared=cleared,
            outstanding=self.outstanding_items,
            unrecognised=tuple(n for n in new if normalise_document_name(n) not in matched),
        )

    def suspend_if_overdue(self, now: datetime, units: Mapping[str, Unit]) -> bool:
        """Suspend an application under review whose deficiency deadline has passed with
        items still missing, releasing its units. Returns whether it did; calling it
        again, or too early, changes nothing."""
        require_utc(now)
        if not self._deficiency_overdue(now):
            return False
        deadline = self.deficiency_deadline
        self.status = ApplicationStatus.SUSPENDED
        self.closed_at = now
        self._record(
            ApplicationSuspended, now, outstanding=self.outstanding_items, deadline=deadline
        )
        self._release_units(units, ReleaseReason.APPLICATION_SUSPENDED, now)
        return True

    def is_overdue(self, now: datetime) -> bool:
        """Under review past the park's review time limit or the deficiency deadline."""
        if self.status != ApplicationStatus.UNDER_REVIEW:
            return False
        past_limit = self.review_due_at is not None and now >= self.review_due_at
        return past_limit or self._deficiency_overdue(now)

    def escalate_overdue_review(self, now: datetime) -> bool:
        """Past the park's review time limit, still under review: record
        ``review_overdue`` naming the departments yet to decide, once. Returns whether
        it did."""
        require_utc(now)
        due = self.review_due_at
        if (
            self.status != ApplicationStatus.UNDER_REVIEW
            or due is None
            or now < due
            or self.review_overdue_at is not None
        ):
            return False
        self.review_overdue_at = now
        self._record(
            ReviewOverdue,
            now,
            due_at=due,
            pending_departments=tuple(
                d for d in self.review_departments if d not in self.decisions
            ),
        )
        return True

    def withdraw(
        self, reason: str, by: Withdrawer, now: datetime, units: Mapping[str, Unit]
    ) -> None:
        """Withdraw an application under review (the applicant or an operator): it is
        closed and its reserved units are released. One past its deficiency deadline is
        suspended instead; a closed one refuses (:class:`ApplicationClosed`)."""
        require_utc(now)
        self.suspend_if_overdue(now, units)
        if self.is_closed:
            raise ApplicationClosed(f"application {self.application_id} is already {self.status}")
        self.status = ApplicationStatus.WITHDRAWN
        self.closed_at = now
        self._record(ApplicationWithdrawn, now, reason=reason, withdrawn_by=Withdrawer(by))
        self._release_units(units, ReleaseReason.APPLICATION_WITHDRAWN, now)

    def _deficiency_overdue(self, now: datetime) -> bool:
        """Under review, past the deficiency deadline, with items still missing."""
        deadline = self.deficiency_deadline
        return (
            self.status == ApplicationStatus.UNDER_REVIEW
            and deadline is not None
            and now >= deadline
            and bool(self.outstanding_items)
        )

    def escalate_overdue_items(self, now: datetime, chief_service_officer: str) -> tuple[str, ...]:
        """After admission a missed deadline undoes nothing: each overdue item is
        escalated to the enterprise's chief service officer, once. Returns the items
        escalated now (empty before admission, before the deadline, or when done)."""
        require_utc(now)
        if self.status != ApplicationStatus.ADMITTED:
            return ()
        due = due_for_escalation(self.deficiencies, now)
        for item in due:
            item.escalated_at = now
            self._record(
                DeficiencyEscalated,
                now,
                enterprise_id=self.enterprise_id,
                item=item.document,
                deadline=item.due_at,
                chief_service_officer=chief_service_officer,
            )
        return tuple(item.document for item in due)

    # -- helpers ----------------------------------------------------------------------

    def _units(self, units: Mapping[str, Unit]) -> list[Unit]:
        missing = [unit_id for unit_id in self.unit_ids if unit_id not in units]
        if missing:
            # A handler bug, not a business outcome: it must load the application's units.
            raise ValueError(
                f"units {missing} of application {self.application_id} were not loaded"
            )
        return [units[unit_id] for unit_id in self.unit_ids]

    def _release_units(
        self, units: Mapping[str, Unit], reason: ReleaseReason, now: datetime
    ) -> None:
        released = release_reservations(self._units(units), self.application_id)
        if released:
            self._record(UnitsReleased, now, units=released, reason=reason)

    def _record(self, event_type: type[DomainEvent], now: datetime, **fields: object) -> None:
        self.events.append(
            event_type(
                occurred_at=now, park_id=self.park_id, application_id=self.application_id, **fields
            )
        )
