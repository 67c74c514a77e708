"""SLA clocks on the business calendar: due instants, pause, alerts, figures."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from services.ticketing.domain.sla import (
    SlaPolicy,
    by_firm,
    by_service,
    figures,
    firm_figures,
    next_due_at,
)
from services.ticketing.domain.tickets import Ticket
from services.ticketing.tests.unit.ticket_builders import (
    CALENDAR,
    MONDAY_9,
    open_ticket,
    terms,
    utc,
)
from shared.business_calendar import BusinessCalendar

MICRO = timedelta(microseconds=1)


def sla_ticket(opened_at: datetime, first_response: float = 4, resolution: float = 16) -> Ticket:
    return open_ticket(
        terms(first_response_hours=first_response, resolution_hours=resolution), now=opened_at
    )


def types(events: list) -> list[str]:
    return [e.event_type for e in events]


# -- due instants on the calendar ------------------------------------------------------


def test_a_clock_stops_over_the_weekend() -> None:
    # Friday 2026-11-27 16:00 local: 2 h on Friday, 2 h on Monday.
    ticket = sla_ticket(utc(2026, 11, 27, 8))

    assert ticket.first_response.threshold_at(1.0, CALENDAR) == utc(2026, 11, 30, 3)
    # The warning at 80 % (3 h 12 min): Friday 2 h, then Monday 09:00 + 1 h 12 min.
    assert next_due_at(ticket, CALENDAR) == utc(2026, 11, 30, 2, 12)


def test_the_national_day_holiday_does_not_count_and_its_make_up_saturday_does() -> None:
    # Wednesday 2026-09-30 17:00 local; 2026-10-01..07 are off (first response: 1 h, then
    # 3 h on Thursday 8th, to 12:00 local); Thursday 8th and Friday
    # 9th count 8 h each; Saturday 10th is a 调休 workday and takes the last 7 h.
    ticket = sla_ticket(utc(2026, 9, 30, 9), first_response=4, resolution=24)

    assert ticket.first_response.threshold_at(1.0, CALENDAR) == utc(2026, 10, 8, 4)
    assert ticket.resolution.threshold_at(1.0, CALENDAR) == utc(2026, 10, 10, 9)


def test_a_make_up_sunday_before_the_mid_autumn_holiday_counts() -> None:
    # Friday 2026-09-18 17:00 local: 1 h, Saturday off, Sunday 20th is a 调休 workday.
    ticket = sla_ticket(utc(2026, 9, 18, 9))
    assert ticket.first_response.threshold_at(1.0, CALENDAR) == utc(2026, 9, 20, 4)


def test_a_year_without_calendar_data_falls_back_to_weekdays_with_a_warning() -> None:
    calendar = BusinessCalendar()
    assert not calendar.has_official_data(2027)
    ticket = open_ticket(terms(first_response_hours=4), now=utc(2026, 12, 31, 9))

    with capture_logs() as logs:
        due = ticket.first_response.threshold_at(1.0, calendar)

    # 1 h on Thursday 31 December, then 3 h on Friday 1 January 2027 (a weekday).
    assert due == utc(2027, 1, 1, 4)
    assert any(log["event"] == "business_calendar.fallback" for log in logs)


# -- pause and resume ------------------------------------------------------------------


def test_waiting_on_the_enterprise_pauses_the_resolution_clock() -> None:
    ticket = sla_ticket(MONDAY_9, resolution=8)
    ticket.assign("lawco", MONDAY_9)
    ticket.accept(MONDAY_9 + timedelta(hours=1), CALENDAR)
    ticket.progress("请补充材料", True, MONDAY_9 + timedelta(hours=2), CALENDAR)

    assert ticket.resolution.consumed == timedelta(hours=2)
    assert next_due_at(ticket, CALENDAR) is None  # paused, below the warning point

    tuesday_9 = utc(2026, 11, 24, 1)
    ticket.resume("enterprise", tuesday_9)

    # 6 h left from Tuesday 09:00: 16:00 local. Warning at 6.4 h: 4.4 h left → 14:24.
    assert ticket.resolution.threshold_at(1.0, CALENDAR) == utc(2026, 11, 24, 8)
    assert next_due_at(ticket, CALENDAR) == utc(2026, 11, 24, 6, 24)


def test_a_clock_paused_past_its_warning_point_is_due_at_once() -> None:
    ticket = sla_ticket(MONDAY_9, resolution=8)
    ticket.assign("lawco", MONDAY_9)
    pause_at = MONDAY_9 + timedelta(hours=8)  # 17:00 local: 7 h counted (lunch excluded)
    ticket.progress("等待企业回复", True, pause_at, CALENDAR)

    assert next_due_at(ticket, CALENDAR) == pause_at
    events = ticket.check_sla(pause_at + timedelta(days=1), CALENDAR, "officer-1")
    assert types(events) == ["sla_warning"]
    assert events[0].due_at is None  # paused: no breach instant until the clock runs
    assert next_due_at(ticket, CALENDAR) is None


# -- warning, breach, escalation -------------------------------------------------------


def test_warning_then_breach_then_escalation_each_once_with_an_injected_clock() -> None:
    ticket = sla_ticket(MONDAY_9)  # first response 4 h: warning 13:12, breach 14:00 local
    warning_at = next_due_at(ticket, CALENDAR)
    assert warning_at == utc(2026, 11, 23, 5, 12)

    assert ticket.check_sla(warning_at - MICRO, CALENDAR, "officer-1") == []
    warned = ticket.check_sla(warning_at, CALENDAR, "officer-1")
    assert types(warned) == ["sla_warning"]
    assert warned[0].clock == "first_response" and warned[0].due_at == utc(2026, 11, 23, 6)
    assert ticket.check_sla(warning_at, CALENDAR, "officer-1") == []

    breach_at = next_due_at(ticket, CALENDAR)
    assert breach_at == utc(2026, 11, 23, 6)
    breached = ticket.check_sla(breach_at, CALENDAR, "officer-1")
    assert types(breached) == ["sla_breached", "ticket_escalated"]
    assert breached[1].chief_service_officer == "officer-1"
    assert ticket.check_sla(breach_at + timedelta(minutes=5), CALENDAR, "officer-1") == []

    # Next: the resolution clock's warning (16 h × 0.8 = 12.8 h → Tuesday 14:48 local).
    assert next_due_at(ticket, CALENDAR) == utc(2026, 11, 24, 6, 48)


def test_a_late_scan_records_every_overdue_alert_of_both_clocks_in_order() -> None:
    ticket = sla_ticket(MONDAY_9)
    events = ticket.check_sla(utc(2026, 12, 10), CALENDAR, "officer-1")

    assert [(e.event_type, e.clock) for e in events] == [
        ("sla_warning", "first_response"),
        ("sla_breached", "first_response"),
        ("ticket_escalated", "first_response"),
        ("sla_warning", "resolution"),
        ("sla_breached", "resolution"),
        ("ticket_escalated", "resolution"),
    ]
    assert next_due_at(ticket, CALENDAR) is None


def test_acceptance_stops_the_first_response_clock_without_an_alert() -> None:
    ticket = sla_ticket(MONDAY_9)
    ticket.assign("lawco", MONDAY_9)
    ticket.accept(MONDAY_9 + timedelta(hours=1), CALENDAR)

    assert ticket.first_response.met() is True
    assert ticket.first_response.consumed == timedelta(hours=1)
    assert next_due_at(ticket, CALENDAR) == ticket.resolution.threshold_at(0.8, CALENDAR)


def test_a_resolved_ticket_is_due_only_for_its_automatic_close() -> None:
    ticket = sla_ticket(MONDAY_9)
    ticket.assign("lawco", MONDAY_9)
    ticket.resolve("done", (), None, "", MONDAY_9 + timedelta(hours=2), CALENDAR)

    assert next_due_at(ticket, CALENDAR) is None
    policy = SlaPolicy(close_after_business_days=3)
    assert next_due_at(ticket, CALENDAR, policy) == utc(2026, 11, 26, 16)
    closed = ticket.check_sla(utc(2026, 11, 26, 16), CALENDAR, "officer-1", policy)
    assert types(closed) == ["ticket_closed"]
    assert next_due_at(ticket, CALENDAR, policy) is None


@pytest.mark.parametrize(
    ("ratio", "days"), [(0.0, None), (1.0, None), (0.8, 0), (0.8, True), (0.8, 1.5)]
)
def test_a_policy_out_of_range_is_refused(ratio: float, days: object) -> None:
    with pytest.raises(ValueError):
        SlaPolicy(warning_ratio=ratio, close_after_business_days=days)  # type: ignore[arg-type]


_instants = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31)).map(
    lambda d: d.replace(tzinfo=MONDAY_9.tzinfo)
)


@settings(max_examples=150, deadline=None, database=None)
@given(opened_at=_instants, hours=st.integers(min_value=1, max_value=80))
def test_the_next_due_instant_is_exactly_when_the_check_fires(
    opened_at: datetime, hours: int
) -> None:
    ticket = sla_ticket(opened_at, first_response=hours, resolution=hours * 2)
    due = next_due_at(ticket, CALENDAR)
    assert due is not None

    assert ticket.check_sla(due - MICRO, CALENDAR, "o") == []
    assert types(ticket.check_sla(due, CALENDAR, "o")) == ["sla_warning"]
    breach = ticket.first_response.threshold_at(1.0, CALENDAR)
    assert CALENDAR.business_time_between(opened_at, breach) == timedelta(hours=hours)


# -- figures ---------------------------------------------------------------------------


def _finished(firm: str, code: str, response_h: int, resolve_h: int, score: int | None) -> Ticket:
    ticket = open_ticket(terms(code, first_response_hours=2, resolution_hours=4), now=MONDAY_9)
    ticket.assign(firm, MONDAY_9)
    ticket.accept(MONDAY_9 + timedelta(hours=response_h), CALENDAR)
    ticket.resolve("done", (), None, "", MONDAY_9 + timedelta(hours=resolve_h), CALENDAR)
    if score is not None:
        ticket.rate(score, "", MONDAY_9 + timedelta(hours=resolve_h))
    return ticket


def test_figures_per_firm_give_medians_compliance_and_mean_rating() -> None:
    tickets = [
        _finished("lawco", "LEGAL-03", 1, 2, 5),
        _finished("lawco", "LEGAL-03", 1, 3, 3),
        _finished("lawco", "LEGAL-04", 2, 7, None),  # 7 h local with lunch: 6 h, over 4 h
        _finished("other", "LEGAL-03", 1, 1, 4),
    ]
    cancelled = open_ticket(now=MONDAY_9)
    cancelled.cancel("claim_withdrawn", MONDAY_9)
    outside = _finished("lawco", "LEGAL-03", 1, 1, 1)
    outside.opened_at = utc(2026, 12, 5)

    result = figures([*tickets, cancelled, outside], utc(2026, 11, 1), utc(2026, 12, 1), by_firm)

    lawco = result["lawco"]
    assert lawco.tickets == 3
    assert lawco.median_first_response_hours == 1
    assert lawco.median_resolution_hours == 3
    assert lawco.sla_compliance_percent == pytest.approx(200 / 3)
    assert lawco.mean_rating == 4
    assert set(result) == {"lawco", "other"}


def _passed_on(minutes: int) -> datetime:
    return MONDAY_9 + timedelta(minutes=minutes)


def test_firm_figures_measure_from_the_firms_last_assignment_and_count_declines() -> None:
    ticket = open_ticket(terms(first_response_hours=1, resolution_hours=4), now=MONDAY_9)
    ticket.assign("a", _passed_on(30))  # unassigned for 30 min: nobody's time
    ticket.note_declined("a")
    ticket.reassign("b", "declined", _passed_on(60))  # a held it 30 min, declined
    ticket.accept(_passed_on(75), CALENDAR)  # b: first response 15 min
    ticket.wait("请补充材料", _passed_on(90), CALENDAR)
    ticket.resume("enterprise", _passed_on(120))  # paused 30 min: nobody's time
    ticket.resolve("done", (), None, "", _passed_on(150), CALENDAR)  # b: 90 − 30 = 60 min
    held = open_ticket(now=MONDAY_9)
    held.assign("c", _passed_on(10))
    held.note_declined("c")
    held.reassign("a", "declined", _passed_on(20))

    result = firm_figures([ticket, held], utc(2026, 11, 1), utc(2026, 12, 1), CALENDAR)

    b = result["b"]
    assert (b.tickets, b.declines) == (1, 0)
    assert b.median_first_response_hours == pytest.approx(0.25)
    assert b.median_resolution_hours == pytest.approx(1.0)
    assert b.sla_compliance_percent == 100.0
    # the ticket's own clocks count from its opening (what the enterprise waited)
    assert ticket.first_response.consumed == timedelta(minutes=75)
    assert ticket.resolution.consumed == timedelta(minutes=120)
    a = result["a"]
    assert (a.tickets, a.declines) == (1, 1)  # holds `held`; declined `ticket`
    assert a.median_first_response_hours is None and a.median_resolution_hours is None
    c = result["c"]
    assert (c.tickets, c.declines) == (0, 1)
    assert c.median_resolution_hours is None and c.sla_compliance_percent is None


def test_a_firm_over_its_own_budget_misses_even_if_the_ticket_waited_unassigned() -> None:
    late = open_ticket(terms(first_response_hours=1, resolution_hours=2), now=MONDAY_9)
    late.assign("b", _passed_on(90))  # the ticket's first response is breached already
    late.accept(_passed_on(100), CALENDAR)
    late.resolve("done", (), None, "", _passed_on(150), CALENDAR)
    slow = open_ticket(terms(first_response_hours=1, resolution_hours=2), now=MONDAY_9)
    slow.assign("b", MONDAY_9)
    slow.accept(_passed_on(10), CALENDAR)
    slow.resolve("done", (), None, "", _passed_on(130), CALENDAR)  # b's 130 min > 2 h

    [b] = firm_figures([late, slow], utc(2026, 11, 1), utc(2026, 12, 1), CALENDAR).values()
    assert b.sla_compliance_percent == 50.0  # `late` met b's budgets, `slow` did not
    assert late.first_response.met() is False  # though the ticket missed its SLA


def test_firm_figures_of_a_ticket_stored_before_the_assignment_snapshot() -> None:
    ticket = _finished("lawco", "LEGAL-03", 1, 2, None)
    ticket.resolution_before_assignment = None  # a row written by the earlier version
    [lawco] = firm_figures([ticket], utc(2026, 11, 1), utc(2026, 12, 1), CALENDAR).values()
    assert lawco.median_resolution_hours == pytest.approx(2.0)  # assigned_at → resolved_at


def test_figures_per_service_leave_undecided_slas_out_of_compliance() -> None:
    running = open_ticket(terms("LEGAL-04"), now=MONDAY_9)
    result = figures(
        [_finished("lawco", "LEGAL-04", 1, 2, None), running],
        utc(2026, 11, 1),
        utc(2026, 12, 1),
        by_service,
    )

    service = result["LEGAL-04"]
    assert service.tickets == 2
    assert service.sla_compliance_percent == 100.0
    assert service.mean_rating is None


@settings(max_examples=100, deadline=None, database=None)
@given(
    opened_at=_instants,
    hours=st.integers(min_value=1, max_value=60),
    gaps=st.lists(st.integers(min_value=1, max_value=60 * 24 * 4), min_size=1, max_size=8),
)
def test_paused_time_never_counts_and_the_breach_instant_stays_exact(
    opened_at: datetime, hours: int, gaps: list[int]
) -> None:
    ticket = sla_ticket(opened_at, first_response=1, resolution=hours)
    ticket.assign("lawco", opened_at)
    ticket.accept(opened_at, CALENDAR)
    running: list[tuple[datetime, datetime]] = []
    stretch_start, now = opened_at, opened_at
    for index, gap in enumerate(gaps):
        now += timedelta(minutes=gap)
        if index % 2 == 0:
            ticket.progress("等待", True, now, CALENDAR)
            running.append((stretch_start, now))
        else:
            ticket.resume("enterprise", now)
            stretch_start = now
    counted = sum((CALENDAR.business_time_between(a, b) for a, b in running), timedelta(0))
    clock = ticket.resolution

    assert clock.elapsed(now, CALENDAR) == counted + (
        CALENDAR.business_time_between(stretch_start, now) if clock.is_running else timedelta(0)
    )
    breach = clock.threshold_at(1.0, CALENDAR)
    if clock.is_running and counted < clock.budget:
        assert counted + CALENDAR.business_time_between(stretch_start, breach) == clock.budget
    elif not clock.is_running:
        assert breach == (clock.paused_at if counted >= clock.budget else None)


@settings(max_examples=150, deadline=None, database=None)
@given(
    opened_at=_instants,
    steps=st.lists(
        st.tuples(
            st.sampled_from(["accept", "wait", "resume", "scan"]),
            st.integers(min_value=0, max_value=60 * 30),
        ),
        max_size=10,
    ),
)
def test_no_sla_event_is_ever_due_before_next_due_at(opened_at: datetime, steps: list) -> None:
    ticket = sla_ticket(opened_at, first_response=2, resolution=6)
    ticket.assign("lawco", opened_at)
    now = opened_at
    for action, minutes in steps:
        now += timedelta(minutes=minutes)
        if action == "accept" and ticket.status.value == "assigned":
            ticket.accept(now, CALENDAR)
        elif action == "wait" and ticket.status.value in ("accepted", "in_progress"):
            ticket.wait("等待", now, CALENDAR)
        elif action == "resume":
            ticket.resume("enterprise", now)
        elif action == "scan":
            ticket.check_sla(now, CALENDAR, "o")

    due = next_due_at(ticket, CALENDAR)
    if due is None:
        assert ticket.check_sla(now + timedelta(days=400), CALENDAR, "o") == []
        return
    early = copy.deepcopy(ticket)
    assert early.check_sla(max(now, due - MICRO), CALENDAR, "o") == [] or due <= now
    assert ticket.check_sla(max(now, due), CALENDAR, "o") != []
