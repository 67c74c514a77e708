"""Firm reports: who may report, what never applies, out-of-order and repeated reports."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.ticketing.domain.errors import ReportRefused
from services.ticketing.domain.reasons import ReasonCode
from services.ticketing.domain.reports import FirmReport, apply_report, firm_of_sender
from services.ticketing.domain.routing import RoutingBoard, disable_firm, route_ticket
from services.ticketing.domain.tickets import FeePolicy, Ticket, TicketStatus
from services.ticketing.tests.unit.ticket_builders import (
    CALENDAR,
    MONDAY_9,
    board,
    event_types,
    firm,
    open_ticket,
    terms,
)

LATER = MONDAY_9 + timedelta(hours=1)


def assigned(service=None, *firms: str) -> tuple[Ticket, RoutingBoard]:
    routing = board(*(firm(f) for f in (firms or ("a", "b"))))
    ticket = open_ticket(service)
    route_ticket(ticket, routing, MONDAY_9)
    return ticket, routing


def report(kind: str, ticket: Ticket, firm_id: str | None = "a", **fields: object) -> FirmReport:
    sender = None if firm_id is None else f"firm-{firm_id}"
    return FirmReport(report_type=kind, ticket_id=ticket.ticket_id, sender=sender, **fields)  # type: ignore[arg-type]


def apply(ticket: Ticket, routing: RoutingBoard, rep: FirmReport):
    return apply_report(ticket, rep, LATER, CALENDAR, routing)


def refused(ticket: Ticket, routing: RoutingBoard, rep: FirmReport) -> ReportRefused:
    before = (ticket.status, ticket.firm_id, len(ticket.events))
    with pytest.raises(ReportRefused) as caught:
        apply(ticket, routing, rep)
    assert (ticket.status, ticket.firm_id, len(ticket.events)) == before  # unchanged
    return caught.value


# -- who may report --------------------------------------------------------------------


def test_the_assignee_accepts_its_ticket() -> None:
    ticket, routing = assigned()
    result = apply(ticket, routing, report("work_accepted", ticket))
    assert result.applied and [e.event_type for e in result.events] == ["ticket_accepted"]
    assert ticket.status == TicketStatus.ACCEPTED


@pytest.mark.parametrize(
    "kind", ["work_accepted", "work_progressed", "work_declined", "work_completed"]
)
def test_a_firm_that_never_held_the_ticket_is_refused_as_a_security_event(kind: str) -> None:
    ticket, routing = assigned()
    refusal = refused(ticket, routing, report(kind, ticket, "b", outcome="done"))
    assert refusal.reason.code == ReasonCode.NOT_ASSIGNEE and refusal.security


def test_a_report_about_an_unassigned_ticket_is_a_security_refusal_too() -> None:
    routing = board()
    ticket = open_ticket()
    refusal = refused(ticket, routing, report("work_accepted", ticket, "a"))
    assert refusal.reason.code == ReasonCode.NOT_ASSIGNEE and refusal.security


@pytest.mark.parametrize("sender", [None, "", "guest", "firm-", "ticketing", "firm-a b", "FIRM-a"])
def test_a_report_without_a_firm_user_is_refused_as_a_security_event(sender: str | None) -> None:
    ticket, routing = assigned()
    rep = FirmReport(report_type="work_accepted", ticket_id=ticket.ticket_id, sender=sender)
    refusal = refused(ticket, routing, rep)
    assert refusal.reason.code == ReasonCode.MISSING_SENDER and refusal.security


def test_the_firm_id_is_read_from_the_verified_user() -> None:
    assert firm_of_sender("firm-law-01") == "law-01"


def test_a_firm_that_declined_gets_a_security_refusal_marked_former_assignee() -> None:
    ticket, routing = assigned()
    apply(ticket, routing, report("work_declined", ticket))
    refusal = refused(ticket, routing, report("work_accepted", ticket))
    assert refusal.reason.code == ReasonCode.FIRM_DECLINED
    assert refusal.security and refusal.former_assignee


def test_a_disabled_firms_late_report_is_a_security_refusal_marked_former_assignee() -> None:
    ticket, routing = assigned(None, "a")
    disable_firm("a", [ticket], routing, LATER)
    refusal = refused(ticket, routing, report("work_completed", ticket, outcome="done"))
    assert refusal.reason.code == ReasonCode.NO_LONGER_ASSIGNED
    assert refusal.security and refusal.former_assignee


def test_an_unknown_report_type_is_refused() -> None:
    ticket, routing = assigned()
    assert refused(ticket, routing, report("work_paused", ticket)).reason.code == (
        ReasonCode.UNKNOWN_REPORT_TYPE
    )


def test_reports_on_a_cancelled_ticket_are_refused() -> None:
    ticket, routing = assigned()
    ticket.cancel("claim_withdrawn", LATER)
    refusal = refused(ticket, routing, report("work_completed", ticket, outcome="done"))
    assert refusal.reason.code == ReasonCode.TICKET_CANCELLED and not refusal.security


# -- completion content ----------------------------------------------------------------


def test_completion_resolves_with_the_fixed_fee_when_the_firm_omits_it() -> None:
    ticket, routing = assigned(terms(fee_policy=FeePolicy.FIXED, fee_fen=80_000))
    apply(ticket, routing, report("work_accepted", ticket))
    result = apply(ticket, routing, report("work_completed", ticket, outcome="done", note="完成"))

    resolved = result.events[-1]
    assert (resolved.event_type, resolved.firm_id, resolved.outcome, resolved.fee_fen) == (
        "ticket_resolved",
        "a",
        "done",
        80_000,
    )
    assert routing.load("a") == 0  # capacity freed


def test_a_quoted_service_resolves_with_the_firms_fee() -> None:
    ticket, routing = assigned(terms(fee_policy=FeePolicy.QUOTED))
    apply(ticket, routing, report("work_completed", ticket, outcome="done", fee_fen=123_400))
    assert ticket.fee_fen == 123_400


@pytest.mark.parametrize(
    ("policy", "fixed", "fee", "code"),
    [
        (FeePolicy.FREE, None, 100, ReasonCode.FEE_NOT_CHARGED),
        (FeePolicy.FREE, None, 0, ReasonCode.FEE_NOT_CHARGED),
        (FeePolicy.QUOTED, None, None, ReasonCode.FEE_REQUIRED),
        (FeePolicy.FIXED, 80_000, 79_999, ReasonCode.FEE_MISMATCH),
        (FeePolicy.QUOTED, None, -1, ReasonCode.INVALID_FEE),
        (FeePolicy.QUOTED, None, 12.5, ReasonCode.INVALID_FEE),
        (FeePolicy.QUOTED, None, "100", ReasonCode.INVALID_FEE),
        (FeePolicy.QUOTED, None, True, ReasonCode.INVALID_FEE),
        (FeePolicy.QUOTED, None, 10**13, ReasonCode.INVALID_FEE),
    ],
)
def test_a_fee_that_can_never_be_right_is_refused(
    policy: FeePolicy, fixed: int | None, fee: object, code: ReasonCode
) -> None:
    ticket, routing = assigned(terms(fee_policy=policy, fee_fen=fixed))
    refusal = refused(
        ticket, routing, report("work_completed", ticket, outcome="done", fee_fen=fee)
    )
    assert refusal.reason.code == code and refusal.reason.field == "fee_fen"


def review_ticket(review: str = "legal") -> tuple[Ticket, RoutingBoard]:
    routing = board(firm("a"))
    ticket = Ticket.open_for_review(
        "claim-1",
        review,
        "ent-1",
        terms("LEGAL-RV", opened_by="buyback_legal_review"),
        "回购法律审查",
        ticket_id="t-rv",
        now=MONDAY_9,
        calendar=CALENDAR,
    )
    route_ticket(ticket, routing, MONDAY_9)
    return ticket, routing


def test_a_review_resolves_with_approve_or_reject_and_its_reasons() -> None:
    ticket, routing = review_ticket()
    result = apply(
        ticket, routing, report("work_completed", ticket, outcome="reject", reasons=("产权不清",))
    )
    resolved = result.events[-1]
    assert (resolved.claim_id, resolved.review, resolved.outcome, resolved.reasons) == (
        "claim-1",
        "legal",
        "reject",
        ("产权不清",),
    )
    assert resolved.request_id is None and resolved.fee_fen is None


def test_a_rejection_without_reasons_uses_its_note_and_without_either_is_refused() -> None:
    ticket, routing = review_ticket()
    refusal = refused(ticket, routing, report("work_completed", ticket, outcome="reject"))
    assert refusal.reason.code == ReasonCode.REASONS_REQUIRED
    apply(ticket, routing, report("work_completed", ticket, outcome="reject", note="抵押未解除"))
    assert ticket.outcome_reasons == ("抵押未解除",)


@pytest.mark.parametrize(("review", "outcome"), [(True, "done"), (False, "approve"), (True, None)])
def test_an_outcome_that_does_not_fit_the_ticket_is_refused(
    review: bool, outcome: str | None
) -> None:
    ticket, routing = review_ticket() if review else assigned()
    refusal = refused(ticket, routing, report("work_completed", ticket, outcome=outcome))
    assert refusal.reason.code == ReasonCode.INVALID_OUTCOME


# -- out of order and repeated ---------------------------------------------------------


def test_completion_before_acceptance_implies_it_and_the_late_accept_is_absorbed() -> None:
    ticket, routing = assigned()
    done = apply(ticket, routing, report("work_completed", ticket, outcome="done"))
    assert [e.event_type for e in done.events] == ["ticket_accepted", "ticket_resolved"]
    assert ticket.first_response.is_stopped

    late = apply(ticket, routing, report("work_accepted", ticket))
    assert not late.applied and late.events == ()


def test_progress_before_acceptance_implies_it() -> None:
    ticket, routing = assigned()
    result = apply(ticket, routing, report("work_progressed", ticket, note="已开始"))
    assert [e.event_type for e in result.events] == ["ticket_accepted", "ticket_progressed"]
    assert ticket.status == TicketStatus.IN_PROGRESS
    late = apply(ticket, routing, report("work_accepted", ticket))
    assert not late.applied


def test_progress_waiting_on_the_enterprise_pauses_and_plain_progress_resumes() -> None:
    ticket, routing = assigned()
    apply(ticket, routing, report("work_accepted", ticket))
    waiting = apply(ticket, routing, report("work_progressed", ticket, waiting_on_enterprise=True))
    assert [e.event_type for e in waiting.events] == ["ticket_progressed", "ticket_waiting"]
    assert not ticket.resolution.is_running
    resumed = apply(ticket, routing, report("work_progressed", ticket, note="继续"))
    assert [e.event_type for e in resumed.events] == ["ticket_progressed", "ticket_resumed"]


def test_the_same_completion_twice_is_a_no_op_and_a_different_one_is_refused() -> None:
    ticket, routing = assigned(terms(fee_policy=FeePolicy.QUOTED))
    apply(ticket, routing, report("work_completed", ticket, outcome="done", fee_fen=500))

    again = apply(ticket, routing, report("work_completed", ticket, outcome="done", fee_fen=500))
    assert not again.applied
    refusal = refused(
        ticket, routing, report("work_completed", ticket, outcome="done", fee_fen=600)
    )
    assert refusal.reason.code == ReasonCode.ALREADY_RESOLVED
    assert routing.load("a") == 0  # released once only


def test_a_decline_after_completion_is_refused_and_after_closing_names_the_close() -> None:
    ticket, routing = assigned()
    apply(ticket, routing, report("work_completed", ticket, outcome="done"))
    assert refused(ticket, routing, report("work_declined", ticket)).reason.code == (
        ReasonCode.ALREADY_RESOLVED
    )
    ticket.rate(5, "", LATER)
    assert refused(ticket, routing, report("work_declined", ticket)).reason.code == (
        ReasonCode.TICKET_CLOSED
    )


def test_a_decline_reroutes_and_the_new_firm_may_report() -> None:
    ticket, routing = assigned()
    result = apply(ticket, routing, report("work_declined", ticket, note="利益冲突"))
    assert [e.event_type for e in result.events] == ["ticket_reassigned"]
    assert ticket.firm_id == "b" and ticket.declined_firms == ["a"]
    assert apply(ticket, routing, report("work_accepted", ticket, "b")).applied


def test_a_decline_repeated_after_the_reroute_is_refused_without_moving_the_ticket() -> None:
    ticket, routing = assigned()
    apply(ticket, routing, report("work_declined", ticket))
    refusal = refused(ticket, routing, report("work_declined", ticket))
    assert refusal.reason.code == ReasonCode.FIRM_DECLINED


# -- any sequence ----------------------------------------------------------------------

_reports = st.lists(
    st.tuples(
        st.sampled_from(["work_accepted", "work_progressed", "work_declined", "work_completed"]),
        st.sampled_from(["a", "b", "c", "x"]),
        st.booleans(),
        st.sampled_from(["done", "approve", None]),
    ),
    max_size=12,
)


@settings(max_examples=300, deadline=None, database=None)
@given(reports=_reports)
def test_any_sequence_of_reports_keeps_the_ticket_consistent(reports: list) -> None:
    routing = board(firm("a"), firm("b"), firm("c"))
    ticket = open_ticket()
    route_ticket(ticket, routing, MONDAY_9)
    for kind, firm_id, waiting, outcome in reports:
        rep = report(kind, ticket, firm_id, outcome=outcome, waiting_on_enterprise=waiting)
        try:
            apply(ticket, routing, rep)
        except ReportRefused as refusal:
            security_codes = {
                ReasonCode.NOT_ASSIGNEE,
                ReasonCode.FIRM_DECLINED,
                ReasonCode.NO_LONGER_ASSIGNED,
            }
            assert refusal.security == (refusal.reason.code in security_codes)
            assert refusal.former_assignee == (
                refusal.security and refusal.reason.code != ReasonCode.NOT_ASSIGNEE
            )
            assert firm_id != "x" or refusal.security

    assert ticket.firm_id is None or ticket.firm_id not in ticket.declined_firms
    held = 1 if ticket.is_held else 0
    assert sum(routing.open_tickets.values()) == held
    assert event_types(ticket).count("ticket_resolved") <= 1
    if ticket.status == TicketStatus.RESOLVED:
        assert ticket.first_response.is_stopped and ticket.resolution.is_stopped


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)


@settings(max_examples=300, deadline=None, database=None)
@given(
    outcome=_json_values,
    fee=_json_values,
    policy=st.sampled_from(list(FeePolicy)),
    review=st.booleans(),
)
def test_hostile_outcomes_and_fees_are_refused_never_crash(
    outcome: object, fee: object, policy: FeePolicy, review: bool
) -> None:
    if review:
        ticket, routing = review_ticket()
    else:
        ticket, routing = assigned(
            terms(fee_policy=policy, fee_fen=100 if policy == FeePolicy.FIXED else None)
        )
    rep = report("work_completed", ticket, outcome=outcome, fee_fen=fee, note="n")
    try:
        apply(ticket, routing, rep)
    except ReportRefused:
        assert ticket.status == TicketStatus.ASSIGNED
    else:
        assert ticket.status == TicketStatus.RESOLVED
        assert ticket.fee_fen is None or type(ticket.fee_fen) is int
