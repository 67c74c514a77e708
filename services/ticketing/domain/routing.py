"""Routing tickets to resident firms.

**The rule.** A ticket goes to an *active* firm whose ``kind`` is the service's
``firm_kind`` (``park`` tickets go to the park's own service-centre firm the same way),
which has *all* the required skills, holds fewer open tickets than its capacity, and
has not declined this ticket. Among those, the firm with the *fewest open tickets*
wins; a tie goes to the firm *least recently assigned* (never assigned first), then to
the smaller firm id — deterministic, and fair: with equal loads the work goes round
robin instead of always to the same firm.

**State.** :class:`RoutingBoard` is plain data the service builds from its tables: the
firms (:class:`FirmProfile`), each firm's open-ticket count (tickets it holds:
assigned, accepted, in progress, waiting on the enterprise), and each firm's
``last_assigned`` sequence number (a counter the board bumps at each assignment; the
service stores it on the firm's row). Routing updates the board as it assigns, so a
batch (:func:`route_waiting`, :func:`disable_firm`) sees its own assignments; a
completion applied through :func:`.reports.apply_report` releases the firm's slot too.
A ticket cancelled or resolved elsewhere frees its slot when the service next builds
the board from the held tickets (:meth:`RoutingBoard.build`), or at once with
:meth:`RoutingBoard.release`.

**Nobody available.** The ticket stays ``open``, unassigned: its ``ticket_opened``
(or ``ticket_reassigned`` with ``to_firm_id`` null) is the visible record that it
waits. :func:`route_waiting` assigns waiting tickets when capacity frees (a ticket
resolved or cancelled, a decline) or a firm is added or re-enabled — urgent before
normal, then oldest first.

**Disabling a firm** (:func:`disable_firm`): it takes no new work, and each ticket it
holds is reassigned (``ticket_reassigned``, ``why: firm_disabled``) to another firm by
the same rule, or goes back to waiting unassigned. The service withdraws the work item
from the disabled firm's queue.

Public API: :class:`FirmProfile`, :class:`RoutingBoard`, :func:`route_ticket`,
:func:`reroute_after_decline`, :func:`route_waiting`, :func:`disable_firm`,
:class:`ReassignReason`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from services.ticketing.domain.tickets import Priority, ServiceTerms, Ticket, TicketStatus


class ReassignReason(StrEnum):
    """The ``why`` of ``ticket_reassigned``."""

    DECLINED = "declined"
    FIRM_DISABLED = "firm_disabled"


@dataclass(frozen=True)
class FirmProfile:
    """What routing needs of a firm (the service adapts the firm directory to it)."""

    firm_id: str
    kind: str
    skills: frozenset[str]
    capacity: int
    active: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "skills", frozenset(self.skills))
        if (
            isinstance(self.capacity, bool)
            or not isinstance(self.capacity, int)
            or self.capacity < 0
        ):
            raise ValueError(f"firm {self.firm_id}: capacity must be a non-negative integer")

    def can_do(self, terms: ServiceTerms) -> bool:
        """Right kind and every required skill (activity and load aside)."""
        return self.kind == terms.firm_kind and terms.skills <= self.skills


@dataclass
class RoutingBoard:
    """The firms and their loads at the moment of routing; see the module docstring."""

    firms: dict[str, FirmProfile] = field(default_factory=dict)
    open_tickets: dict[str, int] = field(default_factory=dict)
    last_assigned: dict[str, int] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        firms: Iterable[FirmProfile],
        held_tickets: Iterable[Ticket] = (),
        last_assigned: Mapping[str, int] | None = None,
    ) -> RoutingBoard:
        """A board from the firms, the tickets they hold, and the stored sequences."""
        board = cls(
            firms={firm.firm_id: firm for firm in firms}, last_assigned=dict(last_assigned or {})
        )
        for ticket in held_tickets:
            if ticket.is_held and ticket.firm_id is not None:
                board.open_tickets[ticket.firm_id] = board.open_tickets.get(ticket.firm_id, 0) + 1
        return board

    def load(self, firm_id: str) -> int:
        return self.open_tickets.get(firm_id, 0)

    def choose(self, terms: ServiceTerms, exclude: Iterable[str] = ()) -> str | None:
        """The firm that should take a ticket of ``terms``, or ``None``."""
        excluded = set(exclude)
        candidates = [
            firm
            for firm in self.firms.values()
            if firm.active
            and firm.firm_id not in excluded
            and firm.can_do(terms)
            and self.load(firm.firm_id) < firm.capacity
        ]
        if not candidates:
            return None
        best = min(
            candidates,
            key=lambda firm: (
                self.load(firm.firm_id),
                self.last_assigned.get(firm.firm_id, -1),
                firm.firm_id,
            ),
        )
        return best.firm_id

    def record_assignment(self, firm_id: str) -> None:
        """``firm_id`` took a ticket: one more open ticket, most recently assigned."""
        self.open_tickets[firm_id] = self.load(firm_id) + 1
        self.last_assigned[firm_id] = max(self.last_assigned.values(), default=0) + 1

    def release(self, firm_id: str | None) -> None:
        """``firm_id`` no longer holds one ticket (resolved, cancelled, moved away)."""
        if firm_id is not None and self.load(firm_id) > 0:
            self.open_tickets[firm_id] = self.load(firm_id) - 1


def route_ticket(ticket: Ticket, board: RoutingBoard, now: datetime) -> str | None:
    """Assign an open ticket to the best firm (``ticket_assigned``); ``None`` leaves it
    waiting unassigned."""
    if ticket.status != TicketStatus.OPEN:
        return None
    firm_id = board.choose(ticket.terms, exclude=ticket.declined_firms)
    if firm_id is not None:
        ticket.assign(firm_id, now)
        board.record_assignment(firm_id)
    return firm_id


def reroute_after_decline(
    ticket: Ticket, firm_id: str, board: RoutingBoard, now: datetime
) -> str | None:
    """``firm_id`` declined the ticket it holds: remember it, and move the ticket to
    another firm (never back to one that declined) or to waiting unassigned."""
    ticket.note_declined(firm_id)
    board.release(firm_id)
    return _reassign(ticket, board, ReassignReason.DECLINED, now)


def route_waiting(tickets: Iterable[Ticket], board: RoutingBoard, now: datetime) -> list[Ticket]:
    """Assign the waiting (open, unassigned) tickets that firms can take now — urgent
    before normal, then oldest first (then by id, for a stable order). Returns the
    tickets assigned."""
    waiting = sorted(
        (t for t in tickets if t.is_waiting_for_firm),
        key=lambda t: (t.priority != Priority.URGENT, t.opened_at, t.ticket_id),
    )
    return [ticket for ticket in waiting if route_ticket(ticket, board, now) is not None]


def disable_firm(
    firm_id: str, tickets: Iterable[Ticket], board: RoutingBoard, now: datetime
) -> list[Ticket]:
    """Disable ``firm_id`` and move every ticket it holds (most urgent and oldest first)
    to another firm or back to waiting; returns the tickets moved."""
    firm = board.firms.get(firm_id)
    if firm is not None:
        board.firms[firm_id] = FirmProfile(
            firm.firm_id, firm.kind, firm.skills, firm.capacity, active=False
        )
    held = sorted(
        (t for t in tickets if t.is_held and t.firm_id == firm_id),
        key=lambda t: (t.priority != Priority.URGENT, t.opened_at, t.ticket_id),
    )
    for ticket in held:
        board.release(firm_id)
        _reassign(ticket, board, ReassignReason.FIRM_DISABLED, now)
    return held


def _reassign(
    ticket: Ticket, board: RoutingBoard, why: ReassignReason, now: datetime
) -> str | None:
    to_firm_id = board.choose(ticket.terms, exclude=[*ticket.declined_firms, ticket.firm_id or ""])
    ticket.reassign(to_firm_id, why.value, now)
    if to_firm_id is not None:
        board.record_assignment(to_firm_id)
    return to_firm_id
