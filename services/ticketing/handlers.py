"""Use cases of the ticketing service: plain functions over a unit of work.

Each commits one transaction holding the state change and its outbox messages: the
``ticketing.events`` the aggregates recorded, and the work items (``work_assigned``,
``work_withdrawn``) for the firms' queues on ``ticketing.work`` (routing key = the firm
id). The relay publishes them mandatory: a firm whose queue does not exist gets its row
quarantined, visible in ``health``.

Failures, as the consumer reads them (DESIGN §5: events of different types arrive in
any order): what may become valid once another event is applied raises
:class:`~shared.messaging.errors.TransientFailure` (the retry ladder, then the DLQ);
what never can raises :class:`~shared.messaging.errors.PermanentFailure` (dead-lettered
at once with the reason). A firm's report that is a security refusal (a firm reporting
on a ticket that is not its own: never held, or held once) is also logged as
``security_event``; a report from no firm sender never reaches the handler (the shared
consumer refuses it, and ``shared.messaging.senders`` logs that ``security_event``).

Lock order, everywhere: the park's firm rows (in id order), then tickets. Routing
therefore never fills a firm's last slot twice.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog

from services.ticketing.domain import routing
from services.ticketing.domain.catalogue import OpenedBy
from services.ticketing.domain.errors import NotYetApplicable, Refused, ReportRefused
from services.ticketing.domain.events import (
    DomainEvent,
    EnterpriseCard,
    TicketAssigned,
    TicketCancelled,
    TicketReassigned,
    WorkWithdrawn,
    event_payload,
)
from services.ticketing.domain.firm_directory import Firm
from services.ticketing.domain.reasons import Reason, ReasonCode
from services.ticketing.domain.reports import FirmReport, apply_report, firm_of_sender
from services.ticketing.domain.sla import by_service, figures, next_due_at
from services.ticketing.domain.sla import firm_figures as firm_figures_of
from services.ticketing.domain.tickets import (
    ServiceRequest,
    Ticket,
    check_service_request,
    reject_service_request,
    work_item_for,
)
from services.ticketing.exceptions import NotFound
from services.ticketing.repository import EnterpriseRecord, FirmRecord, TicketQuery
from services.ticketing.unit_of_work import UNKNOWN_ENTERPRISE_GRACE, AbstractTicketingUnitOfWork
from shared.contract.fields import text_problem, utc_iso
from shared.messaging.errors import PermanentFailure, TransientFailure
from shared.messaging.topology import WORK_EXCHANGE

log = structlog.get_logger(__name__)
std_log = logging.getLogger(__name__)

SLA_SCAN_BATCH = 500
MAX_SLA_BATCHES = 1000  # a pass ends even if something keeps a ticket due


# -- staging what happened ---------------------------------------------------------------


def publish(uow: AbstractTicketingUnitOfWork, events: Iterable[DomainEvent]) -> None:
    """Stage each domain event on ``ticketing.events``."""
    for domain_event in events:
        uow.emit(domain_event.event_type, event_payload(domain_event), park_id=domain_event.park_id)


def _card(uow: AbstractTicketingUnitOfWork, enterprise_id: str) -> EnterpriseCard:
    record = uow.enterprises.get(enterprise_id)
    if record is None:
        # Routing happens only for tickets of known enterprises (see the callers); a
        # missing one means the projection lags: retry.
        raise TransientFailure(f"enterprise {enterprise_id} is not in the projection yet")
    return record.card


def send_work(uow: AbstractTicketingUnitOfWork, ticket: Ticket) -> None:
    """The work item for the ticket's current assignee, on its queue."""
    calendar = uow.rules.calendar(ticket.park_id)
    item = work_item_for(ticket, _card(uow, ticket.enterprise_id), calendar)
    payload = event_payload(item)
    entry = uow.rules.catalogue.get(ticket.service_code)
    if entry is not None:
        payload["service_name_en"] = entry.name_en
    uow.send(WORK_EXCHANGE, item.firm_id, item.message_type, payload, park_id=ticket.park_id)


def withdraw_work(
    uow: AbstractTicketingUnitOfWork, ticket: Ticket, firm_id: str, reason: str
) -> None:
    """Tell ``firm_id`` to stop working on the ticket."""
    message = WorkWithdrawn(ticket_id=ticket.ticket_id, firm_id=firm_id, reason=reason)
    uow.send(
        WORK_EXCHANGE,
        firm_id,
        message.message_type,
        event_payload(message),
        park_id=ticket.park_id,
    )


def store(uow: AbstractTicketingUnitOfWork, ticket: Ticket, *, new: bool = False) -> None:
    """Save the ticket with its next SLA due instant, stage the events it recorded and
    the work messages they imply, and forget the events (they are in the outbox)."""
    calendar = uow.rules.calendar(ticket.park_id)
    due = next_due_at(ticket, calendar, uow.rules.sla_policy(ticket.park_id))
    if new:
        uow.tickets.add(ticket, due)
    else:
        uow.tickets.save(ticket, due)
    publish(uow, ticket.events)
    for domain_event in ticket.events:
        if isinstance(domain_event, TicketAssigned):
            send_work(uow, ticket)
        elif isinstance(domain_event, TicketReassigned):
            if domain_event.why == routing.ReassignReason.FIRM_DISABLED:
                withdraw_work(uow, ticket, domain_event.from_firm_id, "firm_disabled")
            if domain_event.to_firm_id is not None:
                send_work(uow, ticket)
        elif isinstance(domain_event, TicketCancelled) and domain_event.firm_id is not None:
            withdraw_work(uow, ticket, domain_event.firm_id, "ticket_cancelled")
    ticket.events.clear()


# -- routing -------------------------------------------------------------------------------


def lock_board(uow: AbstractTicketingUnitOfWork, park_id: str | None) -> routing.RoutingBoard:
    """Lock the firms serving ``park_id`` and build the routing board from them and the
    tickets they hold."""
    records = uow.firms.lock_for_routing(park_id)
    profiles = [
        routing.FirmProfile(
            firm_id=record.firm_id,
            kind=str(record.firm.kind),
            skills=record.firm.skills,
            capacity=record.firm.capacity,
            active=record.active,
        )
        for record in records
    ]
    return routing.RoutingBoard(
        firms={profile.firm_id: profile for profile in profiles},
        open_tickets=uow.tickets.load_by_firm([r.firm_id for r in records]),
        last_assigned={r.firm_id: r.last_assigned for r in records if r.last_assigned},
    )


def route_waiting(
    uow: AbstractTicketingUnitOfWork, park_id: str | None, now: datetime
) -> list[str]:
    """Route the waiting tickets of ``park_id`` (every park when ``None``), each park
    against its own firms (locked first, as everywhere); returns the ids assigned."""
    assigned: list[str] = []
    for park in uow.tickets.waiting_parks(park_id):
        board = lock_board(uow, park)
        tickets = [t for t in uow.tickets.waiting(park) if t.park_id == park]
        for ticket in routing.route_waiting(tickets, board, now):
            store(uow, ticket)
            assigned.append(ticket.ticket_id)
        uow.firms.record_sequences(board.last_assigned)
    return assigned


# -- firms (called by the operator CLI and the seeding at make run) ---------------------


def register_firm(
    uow: AbstractTicketingUnitOfWork, firm: Firm, now: datetime, park_id: str | None = None
) -> dict[str, Any]:
    """Add ``firm`` or update it (name, kind, skills, capacity, contact), active; then
    route the waiting tickets it may take. ``park_id``: the park whose tickets it serves
    (``None``: every park). Its round-robin sequence survives an update."""
    with uow:
        existing = uow.firms.get(firm.firm_id.value)
        park = park_id if park_id is not None else (existing.park_id if existing else None)
        lock_board(uow, park)  # the park's firms first, as every routing transaction
        existing = uow.firms.get(firm.firm_id.value, lock=True)
        record = FirmRecord(
            firm=firm,
            park_id=park,
            active=True,
            last_assigned=existing.last_assigned if existing else 0,
        )
        uow.firms.save(record, now)
        routed = route_waiting(uow, record.park_id, now)
        uow.commit()
    log.info("firm registered", firm_id=record.firm_id, park_id=record.park_id, routed=len(routed))
    return {"firm_id": record.firm_id, "created": existing is None, "routed_tickets": routed}


def disable_firm(
    uow: AbstractTicketingUnitOfWork, firm_id: str, reason: str, now: datetime
) -> dict[str, Any]:
    """Mark the firm disabled (it takes no new work), move each ticket it holds to another
    firm or back to waiting (``ticket_reassigned``, ``why: firm_disabled``) and withdraw
    its work items (``work_withdrawn``). Disabling a disabled firm changes nothing."""
    with uow:
        peek = uow.firms.get(firm_id)
        if peek is None:
            raise NotFound(f"no firm {firm_id}")
        board = lock_board(uow, peek.park_id)  # the park's firms first, this one included
        record = uow.firms.get(firm_id, lock=True)
        assert record is not None
        moved = routing.disable_firm(firm_id, uow.tickets.held_by(firm_id), board, now)
        for ticket in moved:
            store(uow, ticket)
        uow.firms.record_sequences(board.last_assigned)
        record.active, record.disabled_reason = False, reason
        record.last_assigned = max(record.last_assigned, board.last_assigned.get(firm_id, 0))
        uow.firms.save(record, now)
        uow.commit()
    log.info("firm disabled", firm_id=firm_id, reason=reason, reassigned=len(moved))
    return {"firm_id": firm_id, "reassigned_tickets": [t.ticket_id for t in moved]}


def list_firms(uow: AbstractTicketingUnitOfWork) -> list[dict[str, Any]]:
    """Every registered firm with its open-ticket load, by id."""
    with uow:
        records = uow.firms.all()
        loads = uow.tickets.load_by_firm([r.firm_id for r in records])
    return [
        {
            "firm_id": r.firm_id,
            "park_id": r.park_id,
            "name": r.firm.name,
            "kind": str(r.firm.kind),
            "skills": sorted(r.firm.skills),
            "capacity": r.firm.capacity,
            "open_tickets": loads.get(r.firm_id, 0),
            "active": r.active,
            "disabled_reason": r.disabled_reason,
            "contact": {
                "person": r.firm.contact.person,
                "phone": r.firm.contact.phone,
                "email": r.firm.contact.email,
            },
        }
        for r in records
    ]


# -- the projection of onboarding.events --------------------------------------------------


def admit_enterprise(
    payload: Mapping[str, Any], park_id: str | None, uow: AbstractTicketingUnitOfWork
) -> Ticket | None:
    """``onboarding/enterprise_admitted``: remember the enterprise (what a work item tells
    the firm, its chief service officer); open its environmental review (环评) ticket when
    its industry requires one — once per enterprise (``admission:<enterprise_id>``)."""
    enterprise_id = payload["enterprise_id"]
    with uow:
        now = uow.clock()
        known = uow.enterprises.get(enterprise_id)
        uow.enterprises.save(
            EnterpriseRecord(
                card=EnterpriseCard(
                    enterprise_id=enterprise_id,
                    name=payload["enterprise_name"],
                    uscc=payload["uscc"],
                    # Optional in the contract (added later): older events lack them.
                    legal_representative=payload.get("legal_representative") or "未登记",
                    contact_phone=payload.get("contact_phone") or "未登记",
                ),
                park_id=park_id,
                # A reassignment may have been applied already (any order): keep it.
                chief_service_officer=(
                    known.chief_service_officer
                    if known is not None and known.chief_service_officer
                    else payload["chief_service_officer"]
                ),
                admitted_at=known.admitted_at if known is not None else now,
            )
        )
        ticket = None
        if payload["environmental_review_required"]:
            ticket = _open_admission_review(uow, payload, park_id, now)
        uow.commit()
    return ticket


def _open_admission_review(
    uow: AbstractTicketingUnitOfWork,
    payload: Mapping[str, Any],
    park_id: str | None,
    now: datetime,
) -> Ticket | None:
    enterprise_id = payload["enterprise_id"]
    if uow.tickets.by_origin_key(f"admission:{enterprise_id}") is not None:
        return None
    terms = uow.rules.terms(
        uow.rules.catalogue.for_role(OpenedBy.ADMISSION_ENVIRONMENTAL_REVIEW).code
    )
    assert terms is not None
    description = (
        f"入园环评：{payload['enterprise_name']}（{payload['uscc']}），"
        f"行业代码 {payload['industry_code']}。Environmental review of the admitted enterprise."
    )
    ticket = Ticket.open_for_admission(
        enterprise_id,
        terms,
        description,
        ticket_id=uow.new_id(),
        now=now,
        calendar=uow.rules.calendar(park_id),
        park_id=park_id,
    )
    board = lock_board(uow, park_id)
    routing.route_ticket(ticket, board, now)
    store(uow, ticket, new=True)
    uow.firms.record_sequences(board.last_assigned)
    return ticket


def reassign_officer(payload: Mapping[str, Any], uow: AbstractTicketingUnitOfWork) -> None:
    """``onboarding/chief_service_officer_reassigned``: escalations go to the new officer.
    An enterprise not admitted yet (its admission still in flight) is retried."""
    with uow:
        if not uow.enterprises.set_officer(
            payload["enterprise_id"], payload["chief_service_officer"]
        ):
            raise TransientFailure(f"enterprise {payload['enterprise_id']} is not admitted yet")
        uow.commit()


# -- service requests ---------------------------------------------------------------------


def request_service(
    payload: Mapping[str, Any],
    park_id: str | None,
    uow: AbstractTicketingUnitOfWork,
    *,
    occurred_at: datetime | None = None,
    grace: timedelta = UNKNOWN_ENTERPRISE_GRACE,
) -> Ticket | None:
    """``portal/service_requested``: open and route a ticket, or reject with every reason.

    Idempotent on ``request_id``: the same request again changes nothing; different
    content under the same id is rejected (``conflicting_duplicate``). An enterprise
    unknown to the projection is the one reason that may pass (its ``enterprise_admitted``
    may still be in flight): alone, it is a transient failure (retried) while the request
    is at most ``grace`` old (its ``occurred_at`` to the clock's now); older, it is
    rejected (``enterprise_not_admitted``), so the portal is told — never dropped. With
    any other reason the request can never be valid and is rejected at once, naming them
    all. ``occurred_at`` ``None``: always retried (no age to measure).
    """
    request = ServiceRequest(
        request_id=payload["request_id"],
        enterprise_id=payload["enterprise_id"],
        service_code=payload["service_code"],
        description=payload["description"],
        priority=payload["priority"],
    )
    with uow:
        now = uow.clock()
        existing = uow.tickets.by_origin_key(f"request:{request.request_id}")
        if existing is not None:
            if existing.is_same_request(request):
                return None
            reason = Reason(
                ReasonCode.CONFLICTING_DUPLICATE,
                f"request {request.request_id} was received already with other content "
                f"(ticket {existing.ticket_id})",
                "request_id",
            )
            publish(uow, [reject_service_request(request, [reason], now, park_id)])
            uow.commit()
            return None
        enterprise = uow.enterprises.get(request.enterprise_id)
        terms = uow.rules.terms(request.service_code)
        reasons = check_service_request(request, enterprise is not None, terms)
        if text_problem(request.description) and ReasonCode.INVALID_DESCRIPTION not in {
            r.code for r in reasons
        }:
            # Text no event can carry (a lone surrogate): a reason, not a contract violation.
            reasons.append(
                Reason(
                    ReasonCode.INVALID_DESCRIPTION,
                    f"description is not valid text: {text_problem(request.description)}",
                    "description",
                )
            )
        if [r.code for r in reasons] == [ReasonCode.ENTERPRISE_NOT_ADMITTED] and (
            occurred_at is None or now - occurred_at <= grace
        ):
            raise TransientFailure(
                f"enterprise {request.enterprise_id} is not admitted (yet): retried, as its "
                "enterprise_admitted may still be in flight"
            )
        if reasons:
            publish(uow, [reject_service_request(request, reasons, now, park_id)])
            uow.commit()
            return None
        assert terms is not None
        park = park_id if park_id is not None else enterprise.park_id
        ticket = Ticket.open_for_request(
            request,
            terms,
            ticket_id=uow.new_id(),
            now=now,
            calendar=uow.rules.calendar(park),
            park_id=park,
        )
        board = lock_board(uow, park)
        routing.route_ticket(ticket, board, now)
        store(uow, ticket, new=True)
        uow.firms.record_sequences(board.last_assigned)
        uow.commit()
    return ticket


# -- buyback reviews ------------------------------------------------------------------------

_REVIEW_ROLES = {
    "legal": OpenedBy.BUYBACK_LEGAL_REVIEW,
    "finance": OpenedBy.BUYBACK_FINANCE_REVIEW,
}


def open_claim_reviews(
    payload: Mapping[str, Any], park_id: str | None, uow: AbstractTicketingUnitOfWork
) -> list[Ticket]:
    """``buyback/claim_review_requested``: one free review ticket per requested review
    (``claim:<claim_id>:<review>``, so a redelivery opens nothing twice). A claim already
    withdrawn (its ``claim_withdrawn`` came first) opens none; an enterprise not in the
    projection yet is retried (the work item needs its card)."""
    claim_id, enterprise_id = payload["claim_id"], payload["enterprise_id"]
    opened: list[Ticket] = []
    with uow:
        now = uow.clock()
        if uow.tickets.claim_withdrawn(claim_id):
            log.info("review of a withdrawn claim not opened", claim_id=claim_id)
            return []
        enterprise = uow.enterprises.get(enterprise_id)
        if enterprise is None:
            raise TransientFailure(f"enterprise {enterprise_id} is not admitted (yet)")
        park = park_id if park_id is not None else enterprise.park_id
        board = lock_board(uow, park)
        evidence = "、".join(payload["evidence"]) or "（无）"
        for review in dict.fromkeys(payload["reviews"]):
            if uow.tickets.by_origin_key(f"claim:{claim_id}:{review}") is not None:
                continue
            entry = uow.rules.catalogue.for_role(_REVIEW_ROLES[review])
            terms = uow.rules.terms(entry.code)
            assert terms is not None
            ticket = Ticket.open_for_review(
                claim_id,
                review,
                enterprise_id,
                terms,
                f"回购申请审查（{review}）：{payload['reason']}\n证据：{evidence}",
                ticket_id=uow.new_id(),
                now=now,
                calendar=uow.rules.calendar(park),
                park_id=park,
            )
            routing.route_ticket(ticket, board, now)
            store(uow, ticket, new=True)
            opened.append(ticket)
        uow.firms.record_sequences(board.last_assigned)
        uow.commit()
    return opened


def cancel_claim_reviews(
    payload: Mapping[str, Any],
    park_id: str | None,
    uow: AbstractTicketingUnitOfWork,
    *,
    why: str = "claim_withdrawn",
) -> list[Ticket]:
    """``buyback/claim_withdrawn`` and ``buyback/claim_rejected``: the claim needs no more
    review, so cancel its unresolved reviews (``ticket_cancelled`` with reason ``why``; the
    assignee gets ``work_withdrawn``: one review rejected the claim, the other firm stops
    working for nothing) and remember the claim as closed to reviews, so a late
    ``claim_review_requested`` opens nothing. Freed capacity routes waiting tickets."""
    claim_id = payload["claim_id"]
    reason = payload["reason"] if why == "claim_withdrawn" else "; ".join(payload["reasons"])
    with uow:
        now = uow.clock()
        uow.tickets.record_claim_withdrawn(claim_id, f"{why}: {reason}", now)
        # Firms first (a cancellation frees slots to route), then the claim's tickets.
        for park in sorted(
            {t.park_id for t in uow.tickets.for_claim(claim_id, lock=False)}, key=lambda p: p or ""
        ):
            lock_board(uow, park)
        cancelled = [
            ticket for ticket in uow.tickets.for_claim(claim_id) if ticket.cancel(why, now)
        ]
        for ticket in cancelled:
            store(uow, ticket)
        if any(ticket.firm_id for ticket in cancelled):
            for park in sorted({t.park_id for t in cancelled}, key=lambda p: p or ""):
                route_waiting(uow, park, now)
        uow.commit()
    return cancelled


# -- firms' reports -------------------------------------------------------------------------


def security_event(reason: Reason, **context: Any) -> None:
    """A structured ``security_event`` log line: something tried what it may not."""
    log.warning(
        "security_event",
        security_event=True,
        code=str(reason.code),
        message=reason.message,
        **context,
    )


def apply_firm_report(
    report_type: str,
    payload: Mapping[str, Any],
    sender: str | None,
    uow: AbstractTicketingUnitOfWork,
) -> bool:
    """``firms/work_*``: apply a firm's report to its ticket, or refuse it.

    The sender is the broker-verified ``user_id`` (``event.sender``): a report from
    anything but ``firm-<id>``, about a ticket that firm never held, or about no ticket
    at all, is a security refusal — logged as ``security_event``, dead-lettered with the
    reason (:class:`PermanentFailure`), the ticket unchanged. So is a report from a firm
    that once held the ticket (it declined it, or the ticket moved on): the log line says
    ``stale_report_from_former_assignee=True``. Other refusals (a cancelled ticket, a
    completion that can never be valid) are dead-lettered too, logged at info. Returns
    whether the report changed the ticket (``False``: an absorbed late or repeated one).
    """
    ticket_id = payload["ticket_id"]
    report = FirmReport(
        report_type=report_type,
        ticket_id=ticket_id,
        sender=sender,
        note=payload.get("note", ""),
        outcome=payload.get("outcome"),
        fee_fen=payload.get("fee_fen"),
        reasons=tuple(payload.get("reasons") or ()),
        waiting_on_enterprise=bool(payload.get("waiting_on_enterprise", False)),
    )
    try:
        firm_id = firm_of_sender(sender)
        with uow:
            now = uow.clock()
            peek = uow.tickets.get(ticket_id)
            if peek is None:
                # The same answer as another firm's ticket: nothing about what exists leaks.
                raise ReportRefused(
                    Reason(
                        ReasonCode.NOT_ASSIGNEE,
                        f"ticket {ticket_id} is not assigned to firm {firm_id}",
                        "ticket_id",
                    ),
                    security=True,
                )
            board = lock_board(uow, peek.park_id)
            ticket = uow.tickets.get(ticket_id, lock=True)
            assert ticket is not None
            result = apply_report(ticket, report, now, uow.rules.calendar(ticket.park_id), board)
            if result.applied:
                store(uow, ticket)
                uow.firms.record_sequences(board.last_assigned)
                if report_type in ("work_completed", "work_declined"):
                    route_waiting(uow, ticket.park_id, now)  # a slot freed up
            uow.commit()
    except Refused as refusal:
        context = {"sender": sender, "ticket_id": ticket_id, "report_type": report_type}
        if refusal.security:
            security_event(
                refusal.reason,
                stale_report_from_former_assignee=refusal.former_assignee,
                **context,
            )
        else:
            log.info("firm report refused", code=str(refusal.reason.code), **context)
        raise PermanentFailure(f"{refusal.reason.code}: {refusal.reason.message}") from refusal
    return result.applied


# -- the enterprise's side ----------------------------------------------------------------


def reply_to_ticket(payload: Mapping[str, Any], uow: AbstractTicketingUnitOfWork) -> bool:
    """``portal/ticket_replied``: the enterprise answered; a ticket waiting on it runs its
    SLA clocks again (``ticket_resumed``). A reply to a ticket not waiting changes
    nothing; to a ticket that does not exist, it is refused (ticket ids come only from
    ``ticketing.events``, so one unknown here never will exist)."""
    with uow:
        now = uow.clock()
        ticket = uow.tickets.get(payload["ticket_id"], lock=True)
        if ticket is None:
            raise PermanentFailure(f"unknown_ticket: no ticket {payload['ticket_id']}")
        changed = ticket.resume("enterprise", now)
        if changed:
            store(uow, ticket)
            uow.commit()
    return changed


def rate_ticket(payload: Mapping[str, Any], uow: AbstractTicketingUnitOfWork) -> bool:
    """``portal/ticket_rated``: once per ticket, then ``ticket_closed`` (``rated``). A
    ticket not resolved yet is retried (its completion may be in flight); a second,
    different rating, a bad score or a cancelled ticket is refused (dead-lettered)."""
    with uow:
        now = uow.clock()
        ticket = uow.tickets.get(payload["ticket_id"], lock=True)
        if ticket is None:
            raise PermanentFailure(f"unknown_ticket: no ticket {payload['ticket_id']}")
        try:
            changed = ticket.rate(payload["score"], payload["comment"], now)
        except NotYetApplicable as error:
            raise TransientFailure(str(error)) from error
        except Refused as refusal:
            raise PermanentFailure(f"{refusal.reason.code}: {refusal.reason.message}") from None
        if changed:
            store(uow, ticket)
            uow.commit()
    return changed


# -- the SLA timer ------------------------------------------------------------------------


@dataclass
class SlaScan:
    """What one pass of the SLA timer did."""

    checked: int = 0
    events: int = 0
    failed: list[str] = field(default_factory=list)


def scan_sla(uow: AbstractTicketingUnitOfWork, batch: int = SLA_SCAN_BATCH) -> SlaScan:
    """Check every ticket whose indexed ``next_sla_due_at`` is due: ``sla_warning``,
    ``sla_breached``, ``ticket_escalated`` (to the chief service officer), and the
    automatic close of resolved tickets after the park's business days.

    Batches of ``batch`` due tickets, taken with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL
    (a second scanner takes others, never the same); each ticket's ``next_sla_due_at``
    moves past ``now`` once checked, so the loop ends. A ticket that fails is logged and
    left for the next pass (its due instant unchanged); the others go on.
    """
    scan = SlaScan()
    for _ in range(MAX_SLA_BATCHES):
        with uow:
            now = uow.clock()
            found = uow.tickets.due(now, batch + len(scan.failed))
            due = [t for t in found if t.ticket_id not in scan.failed]
            failed = None
            for ticket in due:
                try:
                    scan.events += _check_ticket(uow, ticket, now)
                except Exception:
                    std_log.exception("SLA check of ticket %s failed", ticket.ticket_id)
                    failed = ticket.ticket_id
                    break
            if failed is None:
                uow.commit()
                scan.checked += len(due)
                if len(found) < batch + len(scan.failed):
                    return scan
                continue
        # Rolled back: this batch again, without the ticket that failed.
        scan.failed.append(failed)
    return scan


def _check_ticket(uow: AbstractTicketingUnitOfWork, ticket: Ticket, now: datetime) -> int:
    record = uow.enterprises.get(ticket.enterprise_id)
    officer = record.chief_service_officer if record is not None else None
    events = ticket.check_sla(
        now,
        uow.rules.calendar(ticket.park_id),
        officer,
        uow.rules.sla_policy(ticket.park_id),
    )
    store(uow, ticket)
    return len(events)


# -- queries (RPC) --------------------------------------------------------------------------


def ticket_view(ticket: Ticket) -> dict[str, Any]:
    """A ticket as the RPCs return it (JSON-ready)."""

    def iso(value: datetime | None) -> str | None:
        return utc_iso(value) if value is not None else None

    def clock(c) -> dict[str, Any]:
        return {
            "budget_hours": c.budget.total_seconds() / 3600,
            "consumed_hours": c.consumed.total_seconds() / 3600,
            "running": c.is_running,
            "stopped_at": iso(c.stopped_at),
            "warned_at": iso(c.warned_at),
            "breached_at": iso(c.breached_at),
            "escalated_at": iso(c.escalated_at),
            "met": c.met(),
        }

    return {
        "ticket_id": ticket.ticket_id,
        "park_id": ticket.park_id,
        "enterprise_id": ticket.enterprise_id,
        "service_code": ticket.service_code,
        "service_name": ticket.terms.name,
        "origin": ticket.origin.value,
        "request_id": ticket.request_id,
        "claim_id": ticket.claim_id,
        "review": ticket.review.value if ticket.review else None,
        "priority": ticket.priority.value,
        "description": ticket.description,
        "status": ticket.status.value,
        "firm_id": ticket.firm_id,
        "declined_firms": list(ticket.declined_firms),
        "opened_at": iso(ticket.opened_at),
        "assigned_at": iso(ticket.assigned_at),
        "accepted_at": iso(ticket.accepted_at),
        "resolved_at": iso(ticket.resolved_at),
        "resolved_by": ticket.resolved_by,
        "outcome": ticket.outcome,
        "outcome_reasons": list(ticket.outcome_reasons),
        "fee_fen": ticket.fee_fen,
        "rating": ticket.rating_score,
        "rating_comment": ticket.rating_comment,
        "closed_at": iso(ticket.closed_at),
        "cancelled_at": iso(ticket.cancelled_at),
        "cancel_reason": ticket.cancel_reason,
        "first_response": clock(ticket.first_response),
        "resolution": clock(ticket.resolution),
    }


def get_ticket(ticket_id: str, uow: AbstractTicketingUnitOfWork) -> dict[str, Any]:
    with uow:
        ticket = uow.tickets.get(ticket_id)
    if ticket is None:
        raise NotFound(f"no ticket {ticket_id}")
    return ticket_view(ticket)


def list_tickets(uow: AbstractTicketingUnitOfWork, **filters: Any) -> list[dict[str, Any]]:
    with uow:
        tickets = uow.tickets.query(TicketQuery(**filters))
    return [ticket_view(t) for t in tickets]


def _rows(found, name: str) -> list[dict[str, Any]]:
    return [
        {
            name: f.key,
            "tickets": f.tickets,
            "median_first_response_hours": f.median_first_response_hours,
            "median_resolution_hours": f.median_resolution_hours,
            "sla_compliance_percent": f.sla_compliance_percent,
            "mean_rating": f.mean_rating,
            "declines": f.declines,
        }
        for f in found.values()
    ]


def firm_figures(
    park_id: str, since: datetime, until: datetime, uow: AbstractTicketingUnitOfWork
) -> list[dict[str, Any]]:
    """Per firm (the one that resolved, else the assignee), over tickets opened in
    ``[since, until)``: tickets, median business hours to first response and to
    resolution **measured from that firm's (last) assignment** (time unassigned or with
    a firm that declined is not charged to it), SLA compliance % of its resolved tickets
    against its own times, mean rating, and ``declines`` (tickets it declined; a firm
    that only declined has a row with ``tickets`` 0). :func:`.sla.firm_figures`."""
    with uow:
        tickets = uow.tickets.opened_between(park_id, since, until)
    found = firm_figures_of(tickets, since, until, uow.rules.calendar(park_id))
    return _rows(found, "firm_id")


def service_figures(
    park_id: str, since: datetime, until: datetime, uow: AbstractTicketingUnitOfWork
) -> list[dict[str, Any]]:
    """Per service code: the same figures on the tickets' own clocks (from opening:
    what the enterprise waited), ``declines`` the declines its tickets had."""
    with uow:
        tickets = uow.tickets.opened_between(park_id, since, until)
    found = figures(tickets, since, until, by_service)
    return _rows(found, "service_code")
