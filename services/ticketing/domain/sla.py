"""SLA clocks in business hours, and the figures computed from finished tickets.

A ticket runs two :class:`SlaClock` s, both started when it is opened (the enterprise
waits from then on, assigned or not, and a decline or a reassignment does not restart
them):

- ``first_response`` stops at acceptance or at the first progress report (or at
  completion, which implies both);
- ``resolution`` stops when the ticket is resolved.

Only business time counts: the injected calendar (:class:`WorkingTime`, in practice
``shared.business_calendar.BusinessCalendar`` built from the park's working hours) skips
nights, lunch, weekends, official holidays, and counts 调休 make-up workdays; a year the
calendar has no data for falls back to Monday–Friday (the calendar warns, never raises).
A clock is *paused* while the ticket waits on the enterprise: paused business time does
not count.

A clock's state is plain fields: ``consumed`` (business time counted before the current
running stretch), ``running_since`` (start of that stretch; ``None`` while paused or
stopped), ``paused_at``, ``stopped_at``, and the instants its ``sla_warning`` /
``sla_breached`` / ``ticket_escalated`` were recorded (each at most once per clock).

**Due instants.** :meth:`SlaClock.threshold_at` gives the instant at which a running
clock reaches ``ratio`` of its budget — ``add_business_hours(running_since, budget ×
ratio − consumed)`` — and the SLA check compares ``now`` with exactly that instant, so
:func:`next_due_at` (what the service indexes and scans on) and the check always agree.
A paused clock that had already crossed a threshold it was not yet alerted for is due at
its pause instant (at once); otherwise a paused clock is never due. A stopped clock gets
no late alert: its outcome (met or missed) is in the figures instead.

**Figures.** :func:`figures` computes, per service (or any key) over a period: tickets,
median business hours to first response and to resolution, SLA compliance % and mean
rating (see its docstring for what counts). :func:`firm_figures` computes the same per
firm, measuring each firm from its own (last) assignment, and counts its declines.

Public API: :class:`WorkingTime`, :class:`ClockKind`, :class:`SlaClock`,
:class:`SlaPolicy`, :func:`next_due_at`, :class:`Figures`, :func:`figures`,
:func:`firm_figures`.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # pragma: no cover - typing only
    from services.ticketing.domain.tickets import Ticket

DEFAULT_WARNING_RATIO = 0.8


class WorkingTime(Protocol):
    """What the SLA needs from the business calendar (``shared.business_calendar``)."""

    def add_business_hours(self, instant: datetime, hours: float | timedelta) -> datetime: ...

    def business_time_between(self, start: datetime, end: datetime) -> timedelta: ...

    def add_business_days(self, instant: datetime, days: int) -> datetime: ...


class ClockKind(StrEnum):
    """The two SLA clocks of a ticket."""

    FIRST_RESPONSE = "first_response"
    RESOLUTION = "resolution"


@dataclass(frozen=True)
class SlaPolicy:
    """The park's SLA policy (the park file's ``ticketing:`` section, read by the service).

    ``warning_ratio``: share of the budget at which ``sla_warning`` is recorded (0 < r < 1).
    ``close_after_business_days``: a resolved ticket nobody rated is closed that many
    business days after resolution (``None``: never automatically).
    """

    warning_ratio: float = DEFAULT_WARNING_RATIO
    close_after_business_days: int | None = None

    def __post_init__(self) -> None:
        if not 0 < self.warning_ratio < 1:
            raise ValueError(
                f"warning_ratio must lie strictly between 0 and 1, got {self.warning_ratio}"
            )
        n = self.close_after_business_days
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
            raise ValueError(f"close_after_business_days must be a positive integer, got {n!r}")


@dataclass(eq=False)
class SlaClock:
    """One business-hours clock; see the module docstring for its fields' meaning."""

    kind: ClockKind
    budget: timedelta
    started_at: datetime
    consumed: timedelta = timedelta(0)
    running_since: datetime | None = None
    paused_at: datetime | None = None
    stopped_at: datetime | None = None
    warned_at: datetime | None = None
    breached_at: datetime | None = None
    escalated_at: datetime | None = None

    @classmethod
    def start(cls, kind: ClockKind, budget_hours: float, now: datetime) -> SlaClock:
        """A clock of ``budget_hours`` business hours, running from ``now``."""
        if budget_hours <= 0:
            raise ValueError(f"an SLA budget must be positive, got {budget_hours} hours")
        return cls(
            kind=kind, budget=timedelta(hours=budget_hours), started_at=now, running_since=now
        )

    @property
    def is_running(self) -> bool:
        return self.running_since is not None

    @property
    def is_stopped(self) -> bool:
        return self.stopped_at is not None

    def elapsed(self, now: datetime, calendar: WorkingTime) -> timedelta:
        """Business time counted so far (until ``now`` if running)."""
        if self.running_since is None:
            return self.consumed
        return self.consumed + calendar.business_time_between(self.running_since, now)

    def pause(self, now: datetime, calendar: WorkingTime) -> None:
        """Stop counting (waiting on the enterprise); no-op unless running."""
        if self.running_since is None:
            return
        self.consumed = self.elapsed(now, calendar)
        self.running_since = None
        self.paused_at = now

    def resume(self, now: datetime) -> None:
        """Count again from ``now``; no-op unless paused."""
        if self.stopped_at is not None or self.running_since is not None:
            return
        self.running_since = now
        self.paused_at = None

    def stop(self, now: datetime, calendar: WorkingTime) -> None:
        """Stop for good (responded / resolved); ``consumed`` then holds the final time."""
        if self.stopped_at is not None:
            return
        self.consumed = self.elapsed(now, calendar)
        self.running_since = None
        self.paused_at = None
        self.stopped_at = now

    def threshold_at(self, ratio: float, calendar: WorkingTime) -> datetime | None:
        """When the clock reaches ``ratio`` × budget: exact for a running clock; the
        pause instant for a paused clock that had already reached it; else ``None``."""
        if self.stopped_at is not None:
            return None
        target = self.budget * ratio
        if self.running_since is None:
            return self.paused_at if self.consumed >= target else None
        remaining = max(target - self.consumed, timedelta(0))
        return calendar.add_business_hours(self.running_since, remaining)

    def next_due_at(self, warning_ratio: float, calendar: WorkingTime) -> datetime | None:
        """The next instant at which this clock needs a check (warning, then breach)."""
        if self.warned_at is None:
            return self.threshold_at(warning_ratio, calendar)
        if self.breached_at is None:
            return self.threshold_at(1.0, calendar)
        return None

    def met(self) -> bool | None:
        """Whether the SLA was kept: ``None`` while undecided (running or paused and not
        yet over budget)."""
        if self.breached_at is not None:
            return False
        if self.stopped_at is None:
            return None
        return self.consumed <= self.budget


def next_due_at(
    ticket: Ticket, calendar: WorkingTime, policy: SlaPolicy = SlaPolicy()
) -> datetime | None:
    """The next instant at which ``ticket`` needs the SLA scan: its earliest pending
    warning or breach instant over both clocks, or — when the policy closes resolved
    tickets automatically — the auto-close instant of a resolved ticket. ``None`` when
    nothing is pending (closed, cancelled, paused below thresholds). The service stores
    it in an indexed column after every change and scans only ``due_at <= now``.
    """
    if ticket.is_terminal:
        return None
    if ticket.resolved_at is not None:
        return ticket.auto_close_at(calendar, policy)
    candidates = [
        due
        for clock in (ticket.first_response, ticket.resolution)
        if (due := clock.next_due_at(policy.warning_ratio, calendar)) is not None
    ]
    return min(candidates, default=None)


# ---------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    """Performance figures of one firm or one service over a period (绩效评价 inputs).

    Hours are business hours. ``None`` where there is nothing to measure (no response
    yet, no rating, no decided SLA).
    """

    key: str
    tickets: int
    median_first_response_hours: float | None
    median_resolution_hours: float | None
    sla_compliance_percent: float | None
    mean_rating: float | None
    declines: int = 0


def figures(
    tickets: Iterable[Ticket],
    start: datetime,
    end: datetime,
    key: Callable[[Ticket], str | None],
) -> dict[str, Figures]:
    """Figures per ``key(ticket)`` (e.g. ``by_firm`` or ``by_service``) over tickets
    opened in ``[start, end)``. Tickets whose key is ``None`` are left out.

    - ``tickets``: opened in the period (cancelled ones excluded: nobody's performance);
    - medians over the tickets whose clock has stopped (``consumed`` = final time);
    - SLA compliance: among tickets whose SLA is decided — both clocks stopped, or
      either already breached — the share where no clock was over its budget;
    - mean rating over the rated tickets;
    - ``declines``: how many declines the tickets had.

    Per firm, use :func:`firm_figures` (which measures each firm from its assignment).
    """
    groups: dict[str, list[Ticket]] = {}
    for ticket in tickets:
        if not start <= ticket.opened_at < end or ticket.cancelled_at is not None:
            continue
        group = key(ticket)
        if group is not None:
            groups.setdefault(group, []).append(ticket)
    return {group: _figures_of(group, members) for group, members in sorted(groups.items())}


def firm_figures(
    tickets: Iterable[Ticket], start: datetime, end: datetime, calendar: WorkingTime
) -> dict[str, Figures]:
    """Figures per firm over tickets opened in ``[start, end)`` (cancelled ones excluded),
    each firm measured from **its own (last) assignment**, never from the ticket's
    opening: time unassigned, and time with a firm that declined or was disabled, is
    nobody's (the ticket's own clocks, what the enterprise waited, still count it).

    - ``tickets``: those the firm resolved, or holds now;
    - first response: business time from the firm's assignment to its acceptance (no
      pause can fall in between: only an accepted ticket waits on the enterprise);
    - resolution: business time from the firm's assignment to resolution, less the time
      the ticket waited on the enterprise since (the resolution clock's final value minus
      what it had counted at the assignment; a ticket stored before that was kept:
      ``assigned_at`` → ``resolved_at``);
    - SLA compliance: among the resolved tickets, the share where the firm's own first
      response and resolution were within the service's budgets;
    - mean rating over the rated tickets;
    - ``declines``: tickets of the period the firm declined (a firm that only declined
      appears with ``tickets`` 0).
    """
    held: dict[str, list[Ticket]] = {}
    declines: dict[str, int] = {}
    for ticket in tickets:
        if not start <= ticket.opened_at < end or ticket.cancelled_at is not None:
            continue
        for declined in dict.fromkeys(ticket.declined_firms):
            declines[declined] = declines.get(declined, 0) + 1
        firm = by_firm(ticket)
        if firm is not None:
            held.setdefault(firm, []).append(ticket)
    result: dict[str, Figures] = {}
    for firm in sorted(set(held) | set(declines)):
        members = held.get(firm, [])
        first = [_firm_first_response(t, calendar) for t in members]
        resolution = [_firm_resolution(t, calendar) for t in members]
        decided = [
            f is not None
            and r is not None
            and f <= t.first_response.budget
            and r <= t.resolution.budget
            for t, f, r in zip(members, first, resolution, strict=True)
            if t.resolved_at is not None
        ]
        scores = [t.rating_score for t in members if t.rating_score is not None]
        result[firm] = Figures(
            key=firm,
            tickets=len(members),
            median_first_response_hours=_median([_in_hours(f) for f in first]),
            median_resolution_hours=_median([_in_hours(r) for r in resolution]),
            sla_compliance_percent=100.0 * sum(decided) / len(decided) if decided else None,
            mean_rating=statistics.fmean(scores) if scores else None,
            declines=declines.get(firm, 0),
        )
    return result


def _in_hours(value: timedelta | None) -> float | None:
    return value / timedelta(hours=1) if value is not None else None


def _firm_first_response(ticket: Ticket, calendar: WorkingTime) -> timedelta | None:
    if ticket.assigned_at is None or ticket.accepted_at is None:
        return None
    if ticket.accepted_at < ticket.assigned_at:
        return None  # not this assignment's acceptance (cannot happen: reassigning clears it)
    return calendar.business_time_between(ticket.assigned_at, ticket.accepted_at)


def _firm_resolution(ticket: Ticket, calendar: WorkingTime) -> timedelta | None:
    if ticket.assigned_at is None or ticket.resolved_at is None:
        return None
    snapshot = ticket.resolution_before_assignment
    if snapshot is None or not ticket.resolution.is_stopped:
        return calendar.business_time_between(ticket.assigned_at, ticket.resolved_at)
    consumed, running_since = snapshot
    before = consumed
    if running_since is not None and running_since < ticket.assigned_at:
        before += calendar.business_time_between(running_since, ticket.assigned_at)
    return max(ticket.resolution.consumed - before, timedelta(0))


def by_firm(ticket: Ticket) -> str | None:
    """Key for :func:`figures`: the firm that resolved the ticket, else its assignee."""
    return ticket.resolved_by or ticket.firm_id


def by_service(ticket: Ticket) -> str | None:
    """Key for :func:`figures`: the service code."""
    return ticket.service_code


def _hours(clock: SlaClock) -> float | None:
    return clock.consumed / timedelta(hours=1) if clock.is_stopped else None


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def _figures_of(group: str, members: list[Ticket]) -> Figures:
    decided: list[bool] = []
    for ticket in members:
        verdicts = [ticket.first_response.met(), ticket.resolution.met()]
        if False in verdicts:
            decided.append(False)
        elif None not in verdicts:
            decided.append(True)
    scores = [t.rating_score for t in members if t.rating_score is not None]
    return Figures(
        key=group,
        tickets=len(members),
        median_first_response_hours=_median([_hours(t.first_response) for t in members]),
        median_resolution_hours=_median([_hours(t.resolution) for t in members]),
        sla_compliance_percent=100.0 * sum(decided) / len(decided) if decided else None,
        mean_rating=statistics.fmean(scores) if scores else None,
        declines=sum(len(set(t.declined_firms)) for t in members),
    )
