"""Routing: kind, skills, load, capacity, fair ties, declines, waiting tickets, disabling."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from services.ticketing.domain.routing import (
    FirmProfile,
    RoutingBoard,
    disable_firm,
    reroute_after_decline,
    route_ticket,
    route_waiting,
)
from services.ticketing.domain.tickets import TicketStatus
from services.ticketing.tests.unit.ticket_builders import (
    CALENDAR,
    MONDAY_9,
    board,
    firm,
    open_ticket,
    terms,
)

LATER = MONDAY_9 + timedelta(minutes=5)


def test_a_ticket_goes_to_a_firm_of_the_right_kind_with_every_required_skill() -> None:
    routing = board(
        firm("fin", kind="finance"),
        firm("law-partial", skills=frozenset({"labour_law"})),
        firm("law-full", skills=frozenset({"labour_law", "contracts"})),
    )
    ticket = open_ticket(terms(skills=frozenset({"labour_law", "contracts"})))

    assert route_ticket(ticket, routing, MONDAY_9) == "law-full"
    assert ticket.status == TicketStatus.ASSIGNED
    assert ticket.events[-1].event_type == "ticket_assigned"
    assert ticket.events[-1].firm_id == "law-full"


def test_the_firm_with_the_fewest_open_tickets_wins() -> None:
    routing = board(firm("a"), firm("b"))
    routing.open_tickets = {"a": 2, "b": 1}
    assert route_ticket(open_ticket(), routing, MONDAY_9) == "b"


def test_a_firm_at_capacity_or_inactive_gets_nothing() -> None:
    routing = board(firm("full", capacity=1), firm("off", active=False))
    routing.open_tickets = {"full": 1}
    ticket = open_ticket()

    assert route_ticket(ticket, routing, MONDAY_9) is None
    assert ticket.status == TicketStatus.OPEN and ticket.is_waiting_for_firm
    assert [e.event_type for e in ticket.events] == ["ticket_opened"]


def test_equal_loads_go_round_robin_not_always_to_the_same_firm() -> None:
    routing = board(firm("a"), firm("b"), firm("c"))
    chosen = []
    for _ in range(6):
        ticket = open_ticket()
        firm_id = route_ticket(ticket, routing, MONDAY_9)
        chosen.append(firm_id)
        # Each ticket is done at once, so every firm is always back to zero open tickets:
        # only the least-recently-assigned tie-break spreads the work.
        ticket.resolve("done", (), None, "", LATER, CALENDAR)
        routing.release(firm_id)

    assert chosen == ["a", "b", "c", "a", "b", "c"]


def test_the_tie_break_sequence_survives_a_rebuilt_board() -> None:
    routing = RoutingBoard.build([firm("a"), firm("b")], last_assigned={"a": 7, "b": 3})
    assert route_ticket(open_ticket(), routing, MONDAY_9) == "b"
    assert routing.last_assigned == {"a": 7, "b": 8}


def test_park_tickets_go_to_the_park_service_centre_firm() -> None:
    routing = board(firm("law"), firm("centre", kind="park", skills=frozenset({"registration"})))
    ticket = open_ticket(terms("COM-01", kind="park", skills=frozenset({"registration"})))
    assert route_ticket(ticket, routing, MONDAY_9) == "centre"


def test_a_declined_ticket_goes_to_another_firm_and_never_back() -> None:
    routing = board(firm("a"), firm("b"))
    ticket = open_ticket()
    route_ticket(ticket, routing, MONDAY_9)  # a

    assert reroute_after_decline(ticket, "a", routing, LATER) == "b"
    moved = ticket.events[-1]
    assert (moved.event_type, moved.from_firm_id, moved.to_firm_id, moved.why) == (
        "ticket_reassigned",
        "a",
        "b",
        "declined",
    )
    assert routing.open_tickets == {"a": 0, "b": 1}

    # b declines too: a declined before, so nobody is left and the ticket waits.
    assert reroute_after_decline(ticket, "b", routing, LATER) is None
    assert ticket.status == TicketStatus.OPEN and ticket.declined_firms == ["a", "b"]
    assert ticket.events[-1].to_firm_id is None
    assert route_waiting([ticket], routing, LATER) == []


def test_waiting_tickets_are_routed_when_a_firm_is_added_urgent_then_oldest_first() -> None:
    routing = board()
    old = open_ticket(now=MONDAY_9)
    new_urgent = open_ticket(now=MONDAY_9 + timedelta(hours=1), priority="urgent")
    newest = open_ticket(now=MONDAY_9 + timedelta(hours=2))
    tickets = [newest, old, new_urgent]
    assert route_waiting(tickets, routing, LATER) == []

    routing.firms["late"] = firm("late", capacity=2)
    assigned = route_waiting(tickets, routing, LATER)

    assert assigned == [new_urgent, old]
    assert newest.status == TicketStatus.OPEN


def test_a_waiting_ticket_is_routed_when_capacity_frees() -> None:
    routing = board(firm("a", capacity=1))
    first, second = open_ticket(), open_ticket()
    route_ticket(first, routing, MONDAY_9)
    assert route_ticket(second, routing, MONDAY_9) is None

    first.resolve("done", (), None, "", LATER, CALENDAR)
    routing.release("a")

    assert route_waiting([first, second], routing, LATER) == [second]


def test_disabling_a_firm_moves_its_tickets_to_others_or_back_to_waiting() -> None:
    routing = board(firm("a"), firm("b", capacity=1))
    tickets = [open_ticket(now=MONDAY_9 + timedelta(minutes=i)) for i in range(3)]
    for ticket in tickets:
        ticket.assign("a", MONDAY_9)
        routing.record_assignment("a")
    tickets[0].accept(LATER, CALENDAR)
    tickets[0].progress("等待材料", True, LATER, CALENDAR)

    moved = disable_firm("a", tickets, routing, LATER)

    assert moved == tickets
    assert not routing.firms["a"].active
    assert [t.firm_id for t in tickets] == ["b", None, None]
    assert [t.status for t in tickets] == [
        TicketStatus.ASSIGNED,
        TicketStatus.OPEN,
        TicketStatus.OPEN,
    ]
    # The waiting ticket's clocks run again before it moves.
    assert [e.event_type for e in tickets[0].events[-2:]] == ["ticket_resumed", "ticket_reassigned"]
    assert tickets[0].resolution.is_running
    assert {t.events[-1].why for t in tickets} == {"firm_disabled"}
    assert route_ticket(open_ticket(), routing, LATER) is None  # b is full, a disabled


_firms = st.lists(
    st.builds(
        FirmProfile,
        firm_id=st.sampled_from(["f1", "f2", "f3", "f4", "f5"]),
        kind=st.sampled_from(["legal", "finance"]),
        skills=st.frozensets(st.sampled_from(["labour_law", "contracts", "tax"])),
        capacity=st.integers(min_value=0, max_value=3),
        active=st.booleans(),
    ),
    max_size=5,
    unique_by=lambda f: f.firm_id,
)


@settings(max_examples=200, deadline=None, database=None)
@given(
    firms=_firms,
    needs=st.lists(
        st.tuples(
            st.sampled_from(["legal", "finance"]),
            st.frozensets(st.sampled_from(["labour_law", "contracts", "tax"]), max_size=2),
            st.sampled_from(["normal", "urgent"]),
        ),
        max_size=12,
    ),
    declines=st.lists(st.integers(min_value=0, max_value=11), max_size=6),
)
def test_routing_never_breaks_kind_skills_capacity_or_a_decline(
    firms: list[FirmProfile], needs: list, declines: list[int]
) -> None:
    routing = RoutingBoard.build(firms)
    tickets = [
        open_ticket(terms(kind=kind, skills=skills), priority=priority, now=MONDAY_9)
        for kind, skills, priority in needs
    ]
    route_waiting(tickets, routing, MONDAY_9)
    for index in declines:
        if index < len(tickets) and tickets[index].firm_id is not None:
            reroute_after_decline(tickets[index], tickets[index].firm_id, routing, LATER)

    by_id = {f.firm_id: f for f in firms}
    for ticket in tickets:
        if ticket.firm_id is None:
            continue
        chosen = by_id[ticket.firm_id]
        assert chosen.active and chosen.kind == ticket.terms.firm_kind
        assert ticket.terms.skills <= chosen.skills
        assert ticket.firm_id not in ticket.declined_firms
    for firm_id, profile in by_id.items():
        held = sum(1 for t in tickets if t.firm_id == firm_id and t.is_held)
        assert held == routing.load(firm_id) <= profile.capacity
