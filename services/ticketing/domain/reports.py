"""Firms' reports on their work (``firms.events``): which apply, which wait, which are
refused.

A report is applied only when its verified sender — the AMQP ``user_id``
``firm-<firm_id>``, which RabbitMQ checks — is the ticket's current assignee. Checks,
in this order (the first that fails decides):

1. **Sender** — no ``user_id``, or one that is not ``firm-<id>``: refused,
   ``missing_sender``, a *security* refusal. Over the broker the shared consumer's
   sender check (``shared.messaging.senders``) refuses such a report first, and logs
   that ``security_event``; this check is the second line.
2. **Relationship** — a firm that never held the ticket: ``not_assignee``, a
   *security* refusal (it never changes the ticket, and tells the sender nothing about
   the ticket's state). A firm that held it once: ``firm_declined`` (it declined it) or
   ``no_longer_assigned`` (it was disabled or the ticket moved on) — also *security*
   refusals (the ticket is another firm's now), marked ``former_assignee``: most
   likely the firm's own late messages, logged so that the operator can tell.
3. **Ticket cancelled** — ``ticket_cancelled`` (the work item was withdrawn).
4. **Completion content** — never valid whatever arrives later: an outcome that is not
   ``done`` for a service or ``approve`` | ``reject`` for a buyback review
   (``invalid_outcome``); a rejection without reasons or note (``reasons_required``);
   a fee on a free service (``fee_not_charged``); no fee on a quoted one
   (``fee_required``); a fee that differs from the fixed fee (``fee_mismatch``; a
   fixed-fee completion may omit the fee and gets the catalogue's); a fee that is not
   an integer in ``0 … 10¹²`` fen (``invalid_fee``).
5. **State** (:func:`apply_report`), for the current assignee:

   - ``work_accepted`` — assigned → accepted; already accepted or further: no-op;
     resolved or closed: no-op (absorbed, completion implied it);
   - ``work_progressed`` — accepts first if still assigned, records the note, pauses
     the clocks with ``waiting_on_enterprise`` or resumes a waiting ticket without it;
     resolved or closed: no-op (absorbed);
   - ``work_declined`` — reroutes (``ticket_reassigned``; never back to a firm that
     declined) or returns the ticket to waiting; resolved: ``already_resolved``,
     closed: ``ticket_closed``;
   - ``work_completed`` — accepts first if still assigned, then ``ticket_resolved``;
     resolved or closed: the same outcome, reasons and fee again is a no-op, anything
     else ``already_resolved`` / ``ticket_closed``.

   A firm that declined, then (out of order) accepts, gets ``firm_declined``.

**Out of order.** Each report type has its own queue, so ``work_completed`` may come
before ``work_accepted``. Completion (and progress) *imply acceptance*: the firm cannot
have done or started the work without taking it, the work item gave it everything it
needed, and waiting for the accept would only delay the enterprise's answer (and stall
forever if the firm's client never sends one). So they apply at once and record
``ticket_accepted`` first (the first-response clock stops then); the late
``work_accepted`` / ``work_progressed`` is absorbed without effect. No firm report is
therefore ever "not yet valid": the ticket exists before its work item is sent, and
the model raises no :class:`~.errors.NotYetApplicable` for reports (the rating of an
unresolved ticket is the model's transient case). Exact duplicates are the inbox's
job; the no-ops above make the cheap cases safe anyway.

Public API: :class:`ReportType`, :class:`FirmReport`, :func:`firm_of_sender`,
:func:`check_completion`, :class:`ReportResult`, :func:`apply_report`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from services.ticketing.domain.errors import ReportRefused
from services.ticketing.domain.events import DomainEvent
from services.ticketing.domain.reasons import Reason, ReasonCode
from services.ticketing.domain.routing import RoutingBoard, reroute_after_decline
from services.ticketing.domain.sla import WorkingTime
from services.ticketing.domain.tickets import FeePolicy, Origin, Ticket, TicketStatus

MAX_FEE_FEN = 10**12
_SENDER = re.compile(r"firm-([A-Za-z0-9][A-Za-z0-9_.-]{0,127})")
SERVICE_OUTCOMES = ("done",)
REVIEW_OUTCOMES = ("approve", "reject")


class ReportType(StrEnum):
    """The four report types on ``firms.events``."""

    WORK_ACCEPTED = "work_accepted"
    WORK_DECLINED = "work_declined"
    WORK_PROGRESSED = "work_progressed"
    WORK_COMPLETED = "work_completed"


@dataclass(frozen=True)
class FirmReport:
    """A schema-valid report; ``sender`` is the broker-verified AMQP ``user_id``.

    ``fee_fen`` is whatever the payload held (checked here: a float or a bool is
    refused as ``invalid_fee``); ``reasons`` are a review's reasons (a rejection's
    ``note`` stands in for them when none are given).
    """

    report_type: str
    ticket_id: str
    sender: str | None
    note: str = ""
    outcome: str | None = None
    fee_fen: object = None
    reasons: tuple[str, ...] = ()
    waiting_on_enterprise: bool = False


@dataclass(frozen=True)
class ReportResult:
    """What applying a report did: ``applied`` false means a harmless no-op (a late or
    repeated report already covered by the ticket's state); ``events`` recorded."""

    applied: bool
    events: tuple[DomainEvent, ...] = ()


def firm_of_sender(sender: str | None) -> str:
    """The firm id in a verified ``user_id`` ``firm-<firm_id>``; refuses anything else
    (security: only firms report work)."""
    match = _SENDER.fullmatch(sender) if isinstance(sender, str) else None
    if match is None:
        raise ReportRefused(
            Reason(
                ReasonCode.MISSING_SENDER,
                f"a report must come from a firm's user firm-<id>, not {sender!r}",
                "user_id",
            ),
            security=True,
        )
    return match.group(1)


def check_completion(ticket: Ticket, report: FirmReport) -> tuple[str, tuple[str, ...], int | None]:
    """Outcome, reasons and fee of a completion, or :class:`ReportRefused` (never valid)."""
    review = ticket.origin == Origin.BUYBACK_REVIEW
    allowed = REVIEW_OUTCOMES if review else SERVICE_OUTCOMES
    if report.outcome not in allowed:
        what = "a buyback review" if review else "a service"
        _refuse(
            ReasonCode.INVALID_OUTCOME,
            f"outcome of {what} must be {' or '.join(allowed)}, got {report.outcome!r}",
            "outcome",
        )
    reasons = tuple(report.reasons) or (
        (report.note,) if report.outcome == "reject" and report.note.strip() else ()
    )
    if report.outcome == "reject" and not reasons:
        _refuse(ReasonCode.REASONS_REQUIRED, "a rejected review must give its reasons", "reasons")
    return report.outcome, reasons, _checked_fee(ticket, report.fee_fen)


def _checked_fee(ticket: Ticket, fee: object) -> int | None:
    if fee is not None and (
        isinstance(fee, bool) or not isinstance(fee, int) or not 0 <= fee <= MAX_FEE_FEN
    ):
        _refuse(
            ReasonCode.INVALID_FEE,
            f"fee_fen must be an integer 0-{MAX_FEE_FEN} (fen), got {fee!r}",
            "fee_fen",
        )
    terms = ticket.terms
    if terms.fee_policy == FeePolicy.FREE:
        if fee is not None:
            _refuse(
                ReasonCode.FEE_NOT_CHARGED,
                f"{terms.service_code} is free: the report must carry no fee_fen",
                "fee_fen",
            )
        return None
    if terms.fee_policy == FeePolicy.FIXED:
        if fee is not None and fee != terms.fee_fen:
            _refuse(
                ReasonCode.FEE_MISMATCH,
                f"{terms.service_code} has a fixed fee of {terms.fee_fen} fen, not {fee}",
                "fee_fen",
            )
        return terms.fee_fen
    if fee is None:
        _refuse(
            ReasonCode.FEE_REQUIRED,
            f"{terms.service_code} is quoted: the completion must carry fee_fen",
            "fee_fen",
        )
    assert isinstance(fee, int)
    return fee


def apply_report(
    ticket: Ticket, report: FirmReport, now: datetime, calendar: WorkingTime, board: RoutingBoard
) -> ReportResult:
    """Apply ``report`` to ``ticket`` (see the module docstring), or raise
    :class:`ReportRefused` leaving the ticket unchanged. ``board`` is used to reroute a
    declined ticket and is kept up to date (a completion frees the firm's capacity)."""
    if report.ticket_id != ticket.ticket_id:
        raise ValueError(f"report for {report.ticket_id} applied to ticket {ticket.ticket_id}")
    firm_id = firm_of_sender(report.sender)
    try:
        kind = ReportType(report.report_type)
    except ValueError:
        _refuse(
            ReasonCode.UNKNOWN_REPORT_TYPE, f"unknown report type {report.report_type!r}", "type"
        )
    _check_relationship(ticket, firm_id)
    if ticket.status == TicketStatus.CANCELLED:
        _refuse(
            ReasonCode.TICKET_CANCELLED,
            f"ticket {ticket.ticket_id} was cancelled: {ticket.cancel_reason}",
        )
    completion = check_completion(ticket, report) if kind == ReportType.WORK_COMPLETED else None
    before = len(ticket.events)
    if ticket.status in (TicketStatus.RESOLVED, TicketStatus.CLOSED):
        _after_resolution(ticket, kind, completion)
        return ReportResult(applied=False)
    if kind == ReportType.WORK_ACCEPTED:
        if ticket.status != TicketStatus.ASSIGNED:
            return ReportResult(applied=False)
        ticket.accept(now, calendar)
    elif kind == ReportType.WORK_PROGRESSED:
        ticket.progress(report.note, report.waiting_on_enterprise, now, calendar)
    elif kind == ReportType.WORK_DECLINED:
        reroute_after_decline(ticket, firm_id, board, now)
    else:
        assert completion is not None
        outcome, reasons, fee_fen = completion
        ticket.resolve(outcome, reasons, fee_fen, report.note, now, calendar)
        board.release(firm_id)
    return ReportResult(applied=True, events=tuple(ticket.events[before:]))


def _check_relationship(ticket: Ticket, firm_id: str) -> None:
    if firm_id == ticket.firm_id:
        return
    # A former assignee's report is about a ticket now assigned to another firm (or to
    # none): a security event too, marked as a stale report from a former assignee.
    if firm_id in ticket.declined_firms:
        raise ReportRefused(
            Reason(ReasonCode.FIRM_DECLINED, f"firm {firm_id} declined ticket {ticket.ticket_id}"),
            security=True,
            former_assignee=True,
        )
    if firm_id in ticket.previous_firms:
        raise ReportRefused(
            Reason(
                ReasonCode.NO_LONGER_ASSIGNED,
                f"ticket {ticket.ticket_id} is no longer assigned to firm {firm_id}",
            ),
            security=True,
            former_assignee=True,
        )
    # Same answer whether or not the ticket exists or has an assignee: nothing leaks.
    raise ReportRefused(
        Reason(
            ReasonCode.NOT_ASSIGNEE,
            f"ticket {ticket.ticket_id} is not assigned to firm {firm_id}",
            "ticket_id",
        ),
        security=True,
    )


def _after_resolution(
    ticket: Ticket, kind: ReportType, completion: tuple[str, tuple[str, ...], int | None] | None
) -> None:
    if kind in (ReportType.WORK_ACCEPTED, ReportType.WORK_PROGRESSED):
        return  # implied by the completion that resolved it
    if kind == ReportType.WORK_COMPLETED and completion == (
        ticket.outcome,
        ticket.outcome_reasons,
        ticket.fee_fen,
    ):
        return  # the same completion again
    if ticket.status == TicketStatus.CLOSED:
        _refuse(ReasonCode.TICKET_CLOSED, f"ticket {ticket.ticket_id} is closed")
    _refuse(
        ReasonCode.ALREADY_RESOLVED,
        f"ticket {ticket.ticket_id} was resolved already ({ticket.outcome})",
    )


def _refuse(code: ReasonCode, message: str, field: str | None = None) -> None:
    raise ReportRefused(Reason(code, message, field))
