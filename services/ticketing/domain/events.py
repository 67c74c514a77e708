"""Domain events: what happened to tickets, as plain frozen values.

Aggregates append these to their ``events`` list; the service layer writes each to the
outbox as the payload of a ``ticketing.events`` message of type ``event_type`` (DESIGN
§5 fixes the names). :func:`event_payload` (one for all services, in ``shared.payloads``)
turns any of them into JSON-ready data (``occurred_at`` and ``park_id`` belong to the
envelope, not the payload).

Every ticket event carries (from :class:`TicketEvent`) ``ticket_id``, ``enterprise_id``,
``service_code``, ``origin`` and the id of what opened the ticket: ``request_id`` for a
service request, or ``claim_id`` + ``review`` (``legal`` | ``finance``) for a buyback
review, the others null. An admission environmental review (``origin: admission``) has
``request_id``, ``claim_id`` and ``review`` all null: it is identified by
``enterprise_id`` (one per admitted enterprise) — see :mod:`.tickets`.

Additions to DESIGN §5 (new types and fields, documented in ``docs/ticketing.md``):
``origin`` on every ticket event; ``ticket_progressed`` (a firm's progress note);
``firm_id`` on ``ticket_accepted`` / ``ticket_cancelled`` / ``ticket_rated``;
``clock`` and ``due_at`` on the SLA events. :class:`WorkItem` and
:class:`WorkWithdrawn` are not ``ticketing.events``: they go to the assignee's queue
on ``ticketing.work``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from services.ticketing.domain.reasons import Reason
from shared.payloads import event_payload as event_payload  # one conversion for all


@dataclass(frozen=True, kw_only=True)
class DomainEvent:
    """Base of all ticketing events; ``event_type`` is the message's routing key."""

    event_type: ClassVar[str]
    occurred_at: datetime
    park_id: str | None


@dataclass(frozen=True, kw_only=True)
class TicketEvent(DomainEvent):
    """Base of the events about one ticket: the ids every subscriber needs."""

    ticket_id: str
    enterprise_id: str
    service_code: str
    origin: str
    request_id: str | None
    claim_id: str | None
    review: str | None


@dataclass(frozen=True, kw_only=True)
class ServiceRequestRejected(DomainEvent):
    """A service request was not turned into a ticket; ``reasons`` say what to fix.

    ``ticket_id`` is always null (no ticket exists); the other ids are as requested.
    """

    event_type = "service_request_rejected"
    ticket_id: None = None
    request_id: str
    enterprise_id: str
    service_code: str
    origin: str = "service_request"
    claim_id: None = None
    review: None = None
    reasons: tuple[Reason, ...]


@dataclass(frozen=True, kw_only=True)
class TicketOpened(TicketEvent):
    """A ticket exists; until ``ticket_assigned`` it waits visibly unassigned."""

    event_type = "ticket_opened"
    priority: str
    description: str
    fee_policy: str
    fee_fen: int | None
    first_response_due_at: datetime
    resolution_due_at: datetime


@dataclass(frozen=True, kw_only=True)
class TicketAssigned(TicketEvent):
    """The ticket was routed to ``firm_id`` (from unassigned)."""

    event_type = "ticket_assigned"
    firm_id: str


@dataclass(frozen=True, kw_only=True)
class TicketReassigned(TicketEvent):
    """The ticket moved from one firm to another (``to_firm_id`` null: back to waiting
    unassigned). ``why``: ``declined`` or ``firm_disabled``."""

    event_type = "ticket_reassigned"
    from_firm_id: str
    to_firm_id: str | None
    why: str


@dataclass(frozen=True, kw_only=True)
class TicketAccepted(TicketEvent):
    """The assignee took the work (explicitly, or implied by progress or completion)."""

    event_type = "ticket_accepted"
    firm_id: str


@dataclass(frozen=True, kw_only=True)
class TicketProgressed(TicketEvent):
    """The assignee reported progress (``note`` is for the enterprise)."""

    event_type = "ticket_progressed"
    firm_id: str
    note: str


@dataclass(frozen=True, kw_only=True)
class TicketWaiting(TicketEvent):
    """The firm waits on the enterprise: the SLA clocks are paused."""

    event_type = "ticket_waiting"
    firm_id: str | None
    note: str


@dataclass(frozen=True, kw_only=True)
class TicketResumed(TicketEvent):
    """The SLA clocks run again: ``by`` ``enterprise`` (it replied), ``firm`` (it
    resumed), or ``declined`` / ``firm_disabled`` (a waiting ticket was reassigned)."""

    event_type = "ticket_resumed"
    by: str


@dataclass(frozen=True, kw_only=True)
class TicketResolved(TicketEvent):
    """The firm completed the work: ``outcome`` ``done`` (a service) or ``approve`` |
    ``reject`` (a review, with ``reasons``); ``fee_fen`` where the service charges."""

    event_type = "ticket_resolved"
    firm_id: str
    outcome: str
    reasons: tuple[str, ...]
    fee_fen: int | None
    note: str


@dataclass(frozen=True, kw_only=True)
class TicketClosed(TicketEvent):
    """The ticket is finished: ``why`` ``rated`` or ``auto_closed``."""

    event_type = "ticket_closed"
    why: str


@dataclass(frozen=True, kw_only=True)
class SlaWarning(TicketEvent):
    """A clock reached the warning share of its budget; ``due_at`` is when it breaches
    if nothing pauses it (null while the clock is paused: no breach instant then)."""

    event_type = "sla_warning"
    clock: str
    firm_id: str | None
    due_at: datetime | None


@dataclass(frozen=True, kw_only=True)
class SlaBreached(TicketEvent):
    """A clock used up its budget (``due_at`` is when it did)."""

    event_type = "sla_breached"
    clock: str
    firm_id: str | None
    due_at: datetime


@dataclass(frozen=True, kw_only=True)
class TicketEscalated(TicketEvent):
    """A breached ticket goes to the enterprise's chief service officer (限时整改)."""

    event_type = "ticket_escalated"
    clock: str
    firm_id: str | None
    chief_service_officer: str | None


@dataclass(frozen=True, kw_only=True)
class TicketRated(TicketEvent):
    """The enterprise rated the work (once)."""

    event_type = "ticket_rated"
    firm_id: str | None
    score: int
    comment: str


@dataclass(frozen=True, kw_only=True)
class TicketCancelled(TicketEvent):
    """The ticket was cancelled (e.g. ``claim_withdrawn``); ``firm_id`` is the assignee
    whose work item is withdrawn, if any."""

    event_type = "ticket_cancelled"
    reason: str
    firm_id: str | None


# ---------------------------------------------------------------------------
# Messages on ticketing.work (to one firm's queue, routing key = firm_id)
# ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class EnterpriseCard:
    """What a firm may know of the enterprise it works for (from the service's
    projection of ``enterprise_admitted``) — nothing about other enterprises."""

    enterprise_id: str
    name: str
    uscc: str
    legal_representative: str
    contact_phone: str


@dataclass(frozen=True, kw_only=True)
class WorkItem:
    """The work sent to the assignee: the ticket, the service, the enterprise, the
    description and the due times. Built by :func:`.tickets.work_item_for`."""

    message_type: ClassVar[str] = "work_assigned"
    ticket_id: str
    firm_id: str
    service_code: str
    service_name: str
    origin: str
    request_id: str | None
    claim_id: str | None
    review: str | None
    priority: str
    description: str
    fee_policy: str
    fee_fen: int | None
    enterprise: EnterpriseCard
    first_response_due_at: datetime | None
    resolution_due_at: datetime | None


@dataclass(frozen=True, kw_only=True)
class WorkWithdrawn:
    """The ticket was taken away from ``firm_id`` (cancelled, or the firm disabled)."""

    message_type: ClassVar[str] = "work_withdrawn"
    ticket_id: str
    firm_id: str
    reason: str
