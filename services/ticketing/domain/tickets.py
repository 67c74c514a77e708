"""The ticket aggregate: from opening to closing, with its SLA clocks and the events
it records.

States::

    open ─────────────assign──────────▶ assigned (the firm has the work item)
    assigned ─────────accept──────────▶ accepted
    accepted ─────────progress────────▶ in_progress
    accepted | in_progress ──wait─────▶ waiting_on_enterprise   (SLA clocks paused)
    waiting_on_enterprise ──resume────▶ in_progress             (reply, or firm progress)
    assigned | accepted | in_progress | waiting_on_enterprise
                      ──reassign──────▶ assigned (another firm) | open (nobody free)
                      ──resolve───────▶ resolved
    resolved ─────────rate────────────▶ closed
    resolved ─────────N business days─▶ closed
    open | assigned | accepted | in_progress | waiting_on_enterprise
                      ──cancel────────▶ cancelled

``closed`` and ``cancelled`` are terminal. Progress and completion imply acceptance
(``ticket_accepted`` is recorded first): see :mod:`.reports` for why. A reassignment
(decline, firm disabled) puts the ticket in ``assigned`` for the new firm, or back to
``open`` when no firm can take it; the SLA clocks keep running through it (the
enterprise is still waiting), and a waiting ticket resumes them.

**Origins.** A ticket is opened by exactly one of:

- a service request (``origin: service_request``, ``request_id``) — idempotency key
  ``request:<request_id>``;
- a buyback review (``origin: buyback_review``, ``claim_id`` + ``review`` ``legal`` |
  ``finance``) — key ``claim:<claim_id>:<review>``;
- an admission environmental review (``origin: admission``; ``request_id``,
  ``claim_id`` and ``review`` null) — key ``admission:<enterprise_id>``. Admission
  happens once per enterprise (``enterprise_admitted``), so the enterprise id is the
  natural identity and a redelivered admission finds the same ticket; inventing a
  request id would suggest an enterprise asked for it, which it did not.

:attr:`Ticket.origin_key` gives that key for the service's unique index.

Every method takes the current instant ``now`` (aware UTC) and, where SLA clocks move,
the business calendar (:class:`~.sla.WorkingTime`); nothing reads the clock or the
database. State is plain fields (the two :class:`~.sla.SlaClock` s and
:class:`ServiceTerms` are small dataclasses) so the repository maps them directly;
``events`` is the only transient field (written to the outbox, not stored). ``terms``
is a snapshot of the catalogue entry at opening: a later catalogue change (a new SLA,
a new fee) does not move the goalposts of an open ticket.

Public API: :class:`FeePolicy`, :class:`ServiceTerms`, :class:`Origin`,
:class:`Priority`, :class:`TicketStatus`, :class:`ServiceRequest`,
:func:`check_service_request`, :func:`reject_service_request`, :class:`Ticket`,
:func:`work_item_for`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from services.ticketing.domain.errors import (
    IllegalTicketTransition,
    NotYetApplicable,
    RatingRefused,
)
from services.ticketing.domain.events import (
    DomainEvent,
    EnterpriseCard,
    ServiceRequestRejected,
    SlaBreached,
    SlaWarning,
    TicketAccepted,
    TicketAssigned,
    TicketCancelled,
    TicketClosed,
    TicketEscalated,
    TicketOpened,
    TicketProgressed,
    TicketRated,
    TicketReassigned,
    TicketResolved,
    TicketResumed,
    TicketWaiting,
    WorkItem,
)
from services.ticketing.domain.reasons import Reason, ReasonCode
from services.ticketing.domain.sla import ClockKind, SlaClock, SlaPolicy, WorkingTime

MAX_DESCRIPTION_CHARS = 4000


class FeePolicy(StrEnum):
    """How a service is charged: free, a fixed ``fee_fen``, or quoted by the firm."""

    FREE = "free"
    FIXED = "fixed"
    QUOTED = "quoted"


class Origin(StrEnum):
    """What opened a ticket (see the module docstring)."""

    SERVICE_REQUEST = "service_request"
    BUYBACK_REVIEW = "buyback_review"
    ADMISSION = "admission"


class Review(StrEnum):
    """The two buyback reviews."""

    LEGAL = "legal"
    FINANCE = "finance"


class Priority(StrEnum):
    """Urgent tickets are routed before normal ones when firms are scarce."""

    NORMAL = "normal"
    URGENT = "urgent"


class TicketStatus(StrEnum):
    """Where a ticket stands; see the module docstring for the transitions."""

    OPEN = "open"
    ASSIGNED = "assigned"
    ACCEPTED = "accepted"
    IN_PROGRESS = "in_progress"
    WAITING_ON_ENTERPRISE = "waiting_on_enterprise"
    RESOLVED = "resolved"
    CLOSED = "closed"
    CANCELLED = "cancelled"


#: States in which a firm holds the ticket (counts towards its load).
HELD_STATES = frozenset(
    {
        TicketStatus.ASSIGNED,
        TicketStatus.ACCEPTED,
        TicketStatus.IN_PROGRESS,
        TicketStatus.WAITING_ON_ENTERPRISE,
    }
)
#: States before resolution: cancellable, SLA clocks may run.
ACTIVE_STATES = HELD_STATES | {TicketStatus.OPEN}
TERMINAL_STATES = frozenset({TicketStatus.CLOSED, TicketStatus.CANCELLED})


@dataclass(frozen=True)
class ServiceTerms:
    """What a ticket needs from its catalogue entry (the service layer adapts the
    catalogue's ``CatalogueEntry`` to this): routing needs, SLA budgets, fee terms.

    ``opened_by`` is set for entries the park opens itself (``buyback_legal_review``,
    ``buyback_finance_review``, ``admission_environmental_review``): enterprises cannot
    request those directly.
    """

    service_code: str
    name: str
    firm_kind: str
    skills: frozenset[str]
    first_response_hours: float
    resolution_hours: float
    fee_policy: FeePolicy = FeePolicy.FREE
    fee_fen: int | None = None
    active: bool = True
    opened_by: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "skills", frozenset(self.skills))
        object.__setattr__(self, "fee_policy", FeePolicy(self.fee_policy))
        if (self.fee_policy == FeePolicy.FIXED) != (self.fee_fen is not None):
            raise ValueError(f"{self.service_code}: fee_fen is set exactly when the fee is fixed")


@dataclass(frozen=True)
class ServiceRequest:
    """``portal.events/service_requested``, already schema-valid (types checked)."""

    request_id: str
    enterprise_id: str
    service_code: str
    description: str
    priority: str


def check_service_request(
    request: ServiceRequest, enterprise_admitted: bool, terms: ServiceTerms | None
) -> list[Reason]:
    """Every reason to reject ``request`` (empty: open a ticket). ``enterprise_admitted``
    comes from the service's projection of ``onboarding.events``; ``terms`` is the
    catalogue entry of the requested code (``None``: unknown code)."""
    reasons: list[Reason] = []
    if not enterprise_admitted:
        reasons.append(
            Reason(
                ReasonCode.ENTERPRISE_NOT_ADMITTED,
                f"enterprise {request.enterprise_id} is not admitted to the park",
                "enterprise_id",
            )
        )
    if terms is None:
        reasons.append(
            Reason(
                ReasonCode.UNKNOWN_SERVICE_CODE,
                f"{request.service_code!r} is not in the park's service catalogue",
                "service_code",
            )
        )
    elif not terms.active:
        reasons.append(
            Reason(
                ReasonCode.SERVICE_INACTIVE,
                f"service {terms.service_code} is not offered at present",
                "service_code",
            )
        )
    elif terms.opened_by is not None:
        reasons.append(
            Reason(
                ReasonCode.SERVICE_NOT_REQUESTABLE,
                f"service {terms.service_code} is opened by the park itself ({terms.opened_by})",
                "service_code",
            )
        )
    if request.priority not in tuple(Priority):
        reasons.append(
            Reason(
                ReasonCode.INVALID_PRIORITY,
                f"priority must be normal or urgent, got {request.priority!r}",
                "priority",
            )
        )
    text = request.description.strip()
    if not text or len(request.description) > MAX_DESCRIPTION_CHARS or _has_control(text):
        reasons.append(
            Reason(
                ReasonCode.INVALID_DESCRIPTION,
                f"description must be 1 to {MAX_DESCRIPTION_CHARS} characters of text",
                "description",
            )
        )
    return reasons


def _has_control(text: str) -> bool:
    # Line breaks and tabs are normal in a description; other control characters are not.
    return any((ord(c) < 32 and c not in "\n\r\t") or c == "\x7f" for c in text)


def reject_service_request(
    request: ServiceRequest, reasons: Iterable[Reason], now: datetime, park_id: str | None
) -> ServiceRequestRejected:
    """The ``service_request_rejected`` event for ``request``."""
    return ServiceRequestRejected(
        occurred_at=now,
        park_id=park_id,
        request_id=request.request_id,
        enterprise_id=request.enterprise_id,
        service_code=request.service_code,
        reasons=tuple(reasons),
    )


@dataclass(eq=False)
class Ticket:
    """One piece of work for one enterprise; see the module docstring."""

    ticket_id: str
    park_id: str | None
    enterprise_id: str
    origin: Origin
    terms: ServiceTerms
    description: str
    priority: Priority
    opened_at: datetime
    first_response: SlaClock
    resolution: SlaClock
    request_id: str | None = None
    claim_id: str | None = None
    review: Review | None = None
    status: TicketStatus = TicketStatus.OPEN
    firm_id: str | None = None
    assigned_at: datetime | None = None
    accepted_at: datetime | None = None
    declined_firms: list[str] = field(default_factory=list)
    previous_firms: list[str] = field(default_factory=list)
    # The resolution clock at the current firm's (last) assignment: (consumed,
    # running_since), so the firm's own time is the clock's final value minus what it had
    # counted before (the firm figures, :func:`.sla.firm_figures`). None: not assigned, or
    # a ticket stored before this was kept.
    resolution_before_assignment: tuple[timedelta, datetime | None] | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    outcome: str | None = None
    outcome_reasons: tuple[str, ...] = ()
    fee_fen: int | None = None
    rating_score: int | None = None
    rating_comment: str | None = None
    rated_at: datetime | None = None
    closed_at: datetime | None = None
    cancelled_at: datetime | None = None
    cancel_reason: str | None = None
    events: list[DomainEvent] = field(default_factory=list, repr=False)

    # -- opening ----------------------------------------------------------------------

    @classmethod
    def open_for_request(
        cls,
        request: ServiceRequest,
        terms: ServiceTerms,
        *,
        ticket_id: str,
        now: datetime,
        calendar: WorkingTime,
        park_id: str | None = None,
    ) -> Ticket:
        """A ticket for a service request that :func:`check_service_request` passed."""
        return cls._open(
            ticket_id=ticket_id,
            park_id=park_id,
            enterprise_id=request.enterprise_id,
            origin=Origin.SERVICE_REQUEST,
            terms=terms,
            description=request.description,
            priority=Priority(request.priority),
            now=now,
            calendar=calendar,
            request_id=request.request_id,
        )

    @classmethod
    def open_for_review(
        cls,
        claim_id: str,
        review: Review | str,
        enterprise_id: str,
        terms: ServiceTerms,
        description: str,
        *,
        ticket_id: str,
        now: datetime,
        calendar: WorkingTime,
        park_id: str | None = None,
    ) -> Ticket:
        """A buyback legal or finance review (free to the enterprise)."""
        return cls._open(
            ticket_id=ticket_id,
            park_id=park_id,
            enterprise_id=enterprise_id,
            origin=Origin.BUYBACK_REVIEW,
            terms=terms,
            description=description,
            priority=Priority.NORMAL,
            now=now,
            calendar=calendar,
            claim_id=claim_id,
            review=Review(review),
        )

    @classmethod
    def open_for_admission(
        cls,
        enterprise_id: str,
        terms: ServiceTerms,
        description: str,
        *,
        ticket_id: str,
        now: datetime,
        calendar: WorkingTime,
        park_id: str | None = None,
    ) -> Ticket:
        """The environmental review (环评) of a newly admitted enterprise."""
        return cls._open(
            ticket_id=ticket_id,
            park_id=park_id,
            enterprise_id=enterprise_id,
            origin=Origin.ADMISSION,
            terms=terms,
            description=description,
            priority=Priority.NORMAL,
            now=now,
            calendar=calendar,
        )

    @classmethod
    def _open(
        cls, *, terms: ServiceTerms, now: datetime, calendar: WorkingTime, **fields: Any
    ) -> Ticket:
        _require_utc(now)
        ticket = cls(
            terms=terms,
            opened_at=now,
            first_response=SlaClock.start(
                ClockKind.FIRST_RESPONSE, terms.first_response_hours, now
            ),
            resolution=SlaClock.start(ClockKind.RESOLUTION, terms.resolution_hours, now),
            **fields,
        )
        ticket._record(
            TicketOpened,
            now,
            priority=ticket.priority.value,
            description=ticket.description,
            fee_policy=terms.fee_policy.value,
            fee_fen=terms.fee_fen,
            first_response_due_at=ticket.first_response.threshold_at(1.0, calendar),
            resolution_due_at=ticket.resolution.threshold_at(1.0, calendar),
        )
        return ticket

    # -- derived ----------------------------------------------------------------------

    @property
    def service_code(self) -> str:
        return self.terms.service_code

    @property
    def origin_key(self) -> str:
        """The idempotency key of what opened the ticket (unique per park)."""
        if self.origin == Origin.SERVICE_REQUEST:
            return f"request:{self.request_id}"
        if self.origin == Origin.BUYBACK_REVIEW:
            return f"claim:{self.claim_id}:{self.review}"
        return f"admission:{self.enterprise_id}"

    def is_same_request(self, request: ServiceRequest) -> bool:
        """Whether ``request`` (same ``request_id``) repeats the one that opened this
        ticket: same content → no second effect; different → ``conflicting_duplicate``."""
        return (
            self.origin == Origin.SERVICE_REQUEST
            and self.request_id == request.request_id
            and (self.enterprise_id, self.service_code, self.description, self.priority.value)
            == (request.enterprise_id, request.service_code, request.description, request.priority)
        )

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATES

    @property
    def is_waiting_for_firm(self) -> bool:
        """Open and unassigned: :func:`.routing.route_waiting` picks it up."""
        return self.status == TicketStatus.OPEN

    @property
    def is_held(self) -> bool:
        """A firm holds it (counts towards that firm's open tickets)."""
        return self.status in HELD_STATES

    def auto_close_at(self, calendar: WorkingTime, policy: SlaPolicy) -> datetime | None:
        """When a resolved, unrated ticket closes by itself (``None``: never)."""
        if self.status != TicketStatus.RESOLVED or policy.close_after_business_days is None:
            return None
        assert self.resolved_at is not None
        return calendar.add_business_days(self.resolved_at, policy.close_after_business_days)

    # -- routing (called by .routing) -------------------------------------------------

    def assign(self, firm_id: str, now: datetime) -> None:
        """Give an unassigned ticket to ``firm_id`` (``ticket_assigned``)."""
        self._require(TicketStatus.OPEN, action="assign")
        self._take(firm_id, now)
        self._record(TicketAssigned, now, firm_id=firm_id)

    def reassign(self, to_firm_id: str | None, why: str, now: datetime) -> None:
        """Move a held ticket to ``to_firm_id``, or back to unassigned when ``None``
        (``ticket_reassigned``); a waiting ticket's clocks run again."""
        self._require(*HELD_STATES, action="reassign")
        if to_firm_id is not None and to_firm_id == self.firm_id:
            raise IllegalTicketTransition(f"ticket {self.ticket_id} is already with {to_firm_id}")
        if self.status == TicketStatus.WAITING_ON_ENTERPRISE:
            self._run_clocks(now)
            self._record(TicketResumed, now, by=why)
        from_firm_id = self.firm_id
        assert from_firm_id is not None
        self.firm_id = None
        self.accepted_at = None
        if to_firm_id is None:
            self.status = TicketStatus.OPEN
            self.assigned_at = None
            self.resolution_before_assignment = None
        else:
            self._take(to_firm_id, now)
        self._record(
            TicketReassigned, now, from_firm_id=from_firm_id, to_firm_id=to_firm_id, why=why
        )

    def note_declined(self, firm_id: str) -> None:
        """Remember that ``firm_id`` declined: routing never offers it this ticket again."""
        if firm_id not in self.declined_firms:
            self.declined_firms.append(firm_id)

    def _take(self, firm_id: str, now: datetime) -> None:
        self.firm_id = firm_id
        self.assigned_at = now
        self.resolution_before_assignment = (
            self.resolution.consumed,
            self.resolution.running_since,
        )
        self.status = TicketStatus.ASSIGNED
        if firm_id not in self.previous_firms:
            self.previous_firms.append(firm_id)

    # -- the firm's work (called by .reports) -----------------------------------------

    def accept(self, now: datetime, calendar: WorkingTime) -> None:
        """The assignee takes the work: stops the first-response clock."""
        self._require(TicketStatus.ASSIGNED, action="accept")
        self.status = TicketStatus.ACCEPTED
        self.accepted_at = now
        self.first_response.stop(now, calendar)
        self._record(TicketAccepted, now, firm_id=self.firm_id)

    def progress(
        self, note: str, waiting_on_enterprise: bool, now: datetime, calendar: WorkingTime
    ) -> None:
        """The assignee reports progress (implies acceptance); with
        ``waiting_on_enterprise`` the clocks pause (``ticket_waiting``), without it a
        waiting ticket runs again (``ticket_resumed``)."""
        self._require(*HELD_STATES, action="record progress on")
        if self.status == TicketStatus.ASSIGNED:
            self.accept(now, calendar)
        self._record(TicketProgressed, now, firm_id=self.firm_id, note=note)
        if waiting_on_enterprise:
            self.wait(note, now, calendar)
        elif self.status == TicketStatus.WAITING_ON_ENTERPRISE:
            self.resume("firm", now)
        else:
            self.status = TicketStatus.IN_PROGRESS

    def wait(self, note: str, now: datetime, calendar: WorkingTime) -> None:
        """Pause the clocks until the enterprise replies; no-op if already waiting."""
        if self.status == TicketStatus.WAITING_ON_ENTERPRISE:
            return
        self._require(
            TicketStatus.ACCEPTED, TicketStatus.IN_PROGRESS, action="wait on the enterprise for"
        )
        self.status = TicketStatus.WAITING_ON_ENTERPRISE
        self.first_response.pause(now, calendar)
        self.resolution.pause(now, calendar)
        self._record(TicketWaiting, now, firm_id=self.firm_id, note=note)

    def resume(self, by: str, now: datetime) -> bool:
        """The clocks run again (``by``: ``enterprise`` on ``ticket_replied``, or
        ``firm``). Returns whether anything changed: a reply to a ticket that is not
        waiting changes nothing (the enterprise may write at any time)."""
        if self.status != TicketStatus.WAITING_ON_ENTERPRISE:
            return False
        self.status = TicketStatus.IN_PROGRESS
        self._run_clocks(now)
        self._record(TicketResumed, now, by=by)
        return True

    def resolve(
        self,
        outcome: str,
        reasons: tuple[str, ...],
        fee_fen: int | None,
        note: str,
        now: datetime,
        calendar: WorkingTime,
    ) -> None:
        """The assignee completed the work (checked by :mod:`.reports`); implies
        acceptance; stops both clocks."""
        self._require(*HELD_STATES, action="resolve")
        if self.status == TicketStatus.ASSIGNED:
            self.accept(now, calendar)
        self.first_response.stop(now, calendar)
        self.resolution.stop(now, calendar)
        self.status = TicketStatus.RESOLVED
        self.resolved_at = now
        self.resolved_by = self.firm_id
        self.outcome = outcome
        self.outcome_reasons = tuple(reasons)
        self.fee_fen = fee_fen
        self._record(
            TicketResolved,
            now,
            firm_id=self.firm_id,
            outcome=outcome,
            reasons=self.outcome_reasons,
            fee_fen=fee_fen,
            note=note,
        )

    # -- the enterprise and the park --------------------------------------------------

    def rate(self, score: object, comment: str, now: datetime) -> bool:
        """Record the enterprise's rating (1-5) once, then close the ticket.

        Not yet resolved → :class:`NotYetApplicable` (it may be later). Returns
        ``False`` for the same rating again (no effect). Refused
        (:class:`RatingRefused`): a bad score, a different second rating, a cancelled
        ticket. A ticket closed automatically still takes its first rating (the
        evaluation needs it) without a second ``ticket_closed``.
        """
        if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
            raise RatingRefused(
                Reason(
                    ReasonCode.INVALID_SCORE,
                    f"score must be an integer 1-5, got {score!r}",
                    "score",
                )
            )
        if self.status == TicketStatus.CANCELLED:
            raise RatingRefused(
                Reason(ReasonCode.TICKET_CANCELLED, f"ticket {self.ticket_id} was cancelled")
            )
        if self.status in ACTIVE_STATES:
            raise NotYetApplicable(f"ticket {self.ticket_id} is {self.status}, not resolved yet")
        if self.rating_score is not None:
            if (self.rating_score, self.rating_comment) == (score, comment):
                return False
            raise RatingRefused(
                Reason(ReasonCode.ALREADY_RATED, f"ticket {self.ticket_id} was rated already")
            )
        self.rating_score, self.rating_comment, self.rated_at = score, comment, now
        self._record(TicketRated, now, firm_id=self.resolved_by, score=score, comment=comment)
        if self.status == TicketStatus.RESOLVED:
            self._close("rated", now)
        return True

    def close_if_due(self, now: datetime, calendar: WorkingTime, policy: SlaPolicy) -> bool:
        """Close a resolved ticket nobody rated once the policy's business days passed."""
        due = self.auto_close_at(calendar, policy)
        if due is None or now < due:
            return False
        self._close("auto_closed", now)
        return True

    def cancel(self, reason: str, now: datetime) -> bool:
        """Cancel an unresolved ticket (``claim_withdrawn``): ``ticket_cancelled`` names
        the assignee whose work item the service withdraws. A resolved, closed or
        cancelled ticket is left as it is (returns ``False``): the work is done."""
        if self.status not in ACTIVE_STATES:
            return False
        firm_id = self.firm_id
        for clock in (self.first_response, self.resolution):
            clock.stopped_at = clock.stopped_at or now
            clock.running_since = None
        self.status = TicketStatus.CANCELLED
        self.cancelled_at, self.cancel_reason = now, reason
        self._record(TicketCancelled, now, reason=reason, firm_id=firm_id)
        return True

    def check_sla(
        self,
        now: datetime,
        calendar: WorkingTime,
        chief_service_officer: str | None,
        policy: SlaPolicy = SlaPolicy(),
    ) -> list[DomainEvent]:
        """The SLA scan's work on this ticket at ``now``: for each clock, ``sla_warning``
        once it reached the warning share, ``sla_breached`` and ``ticket_escalated`` (to
        ``chief_service_officer``, from the service's projection) once it reached its
        budget — each at most once per clock; then the automatic close if due.
        Returns the events recorded by this call."""
        _require_utc(now)
        before = len(self.events)
        if self.status in ACTIVE_STATES:
            for clock in (self.first_response, self.resolution):
                self._check_clock(clock, now, calendar, chief_service_officer, policy.warning_ratio)
        self.close_if_due(now, calendar, policy)
        return self.events[before:]

    def _check_clock(
        self,
        clock: SlaClock,
        now: datetime,
        calendar: WorkingTime,
        officer: str | None,
        ratio: float,
    ) -> None:
        breach_at = clock.threshold_at(1.0, calendar)
        if clock.warned_at is None:
            warn_at = clock.threshold_at(ratio, calendar)
            if warn_at is not None and now >= warn_at:
                clock.warned_at = now
                self._record(
                    SlaWarning,
                    now,
                    clock=clock.kind.value,
                    firm_id=self.firm_id,
                    due_at=breach_at if clock.is_running else None,
                )
        if clock.breached_at is None and breach_at is not None and now >= breach_at:
            clock.breached_at = now
            self._record(
                SlaBreached, now, clock=clock.kind.value, firm_id=self.firm_id, due_at=breach_at
            )
        if clock.breached_at is not None and clock.escalated_at is None:
            clock.escalated_at = now
            self._record(
                TicketEscalated,
                now,
                clock=clock.kind.value,
                firm_id=self.firm_id,
                chief_service_officer=officer,
            )

    # -- helpers ----------------------------------------------------------------------

    def _close(self, why: str, now: datetime) -> None:
        self.status = TicketStatus.CLOSED
        self.closed_at = now
        self._record(TicketClosed, now, why=why)

    def _run_clocks(self, now: datetime) -> None:
        self.first_response.resume(now)
        self.resolution.resume(now)

    def _require(self, *states: TicketStatus, action: str) -> None:
        if self.status not in states:
            raise IllegalTicketTransition(
                f"cannot {action} ticket {self.ticket_id}: it is {self.status}"
            )

    def _record(self, event_class: type[DomainEvent], now: datetime, **fields: Any) -> None:
        self.events.append(
            event_class(
                occurred_at=now,
                park_id=self.park_id,
                ticket_id=self.ticket_id,
                enterprise_id=self.enterprise_id,
                service_code=self.service_code,
                origin=self.origin.value,
                request_id=self.request_id,
                claim_id=self.claim_id,
                review=self.review.value if self.review else None,
                **fields,
            )
        )


def work_item_for(ticket: Ticket, enterprise: EnterpriseCard, calendar: WorkingTime) -> WorkItem:
    """The work item for the ticket's current assignee: only this ticket, this
    enterprise, and the due times (``None`` for a clock already stopped)."""
    if ticket.firm_id is None:
        raise IllegalTicketTransition(f"ticket {ticket.ticket_id} has no assignee to send work to")
    if enterprise.enterprise_id != ticket.enterprise_id:
        raise ValueError(
            f"enterprise card {enterprise.enterprise_id} is not the enterprise of "
            f"ticket {ticket.ticket_id}"
        )
    return WorkItem(
        ticket_id=ticket.ticket_id,
        firm_id=ticket.firm_id,
        service_code=ticket.service_code,
        service_name=ticket.terms.name,
        origin=ticket.origin.value,
        request_id=ticket.request_id,
        claim_id=ticket.claim_id,
        review=ticket.review.value if ticket.review else None,
        priority=ticket.priority.value,
        description=ticket.description,
        fee_policy=ticket.terms.fee_policy.value,
        fee_fen=ticket.terms.fee_fen,
        enterprise=enterprise,
        first_response_due_at=ticket.first_response.threshold_at(1.0, calendar),
        resolution_due_at=ticket.resolution.threshold_at(1.0, calendar),
    )


def _require_utc(moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() != timedelta(0):
        raise ValueError(f"now must be an aware UTC datetime, got {moment!r}")
