"""The ticket aggregate: opening, request checks, transitions, cancellation, ratings."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.ticketing.domain import events as events_module
from services.ticketing.domain.errors import (
    IllegalTicketTransition,
    NotYetApplicable,
    RatingRefused,
)
from services.ticketing.domain.events import (
    DomainEvent,
    EnterpriseCard,
    TicketEvent,
    WorkItem,
    WorkWithdrawn,
    event_payload,
)
from services.ticketing.domain.reasons import ReasonCode
from services.ticketing.domain.sla import SlaPolicy
from services.ticketing.domain.tickets import (
    FeePolicy,
    Origin,
    Ticket,
    TicketStatus,
    check_service_request,
    reject_service_request,
    work_item_for,
)
from services.ticketing.tests.unit.ticket_builders import (
    CALENDAR,
    MONDAY_9,
    event_types,
    open_ticket,
    request,
    terms,
    utc,
)
from shared.contract.registry import REGISTRY

LATER = MONDAY_9 + timedelta(hours=1)


def resolved_ticket() -> Ticket:
    ticket = open_ticket()
    ticket.assign("lawco", MONDAY_9)
    ticket.resolve("done", (), None, "合同已审查", LATER, CALENDAR)
    return ticket


# -- opening ---------------------------------------------------------------------------


def test_a_service_request_opens_an_unassigned_ticket_with_its_terms() -> None:
    ticket = open_ticket(terms(fee_policy=FeePolicy.FIXED, fee_fen=50_000))

    assert ticket.status == TicketStatus.OPEN and ticket.firm_id is None
    opened = ticket.events[0]
    assert opened.event_type == "ticket_opened"
    assert opened.fee_policy == "fixed" and opened.fee_fen == 50_000
    # 4 business hours from Monday 09:00 local: 13:00 is past lunch, so 14:00 local.
    assert opened.first_response_due_at == utc(2026, 11, 23, 6)
    assert ticket.origin_key == f"request:{ticket.request_id}"


def test_every_ticket_event_names_the_request_that_opened_it_and_nulls_the_claim() -> None:
    ticket = open_ticket()
    ticket.assign("lawco", MONDAY_9)
    ticket.accept(LATER, CALENDAR)

    for event in ticket.events:
        assert isinstance(event, TicketEvent)
        assert (event.ticket_id, event.enterprise_id, event.service_code) == (
            ticket.ticket_id,
            "ent-1",
            "LEGAL-03",
        )
        assert event.request_id == ticket.request_id
        assert event.claim_id is None and event.review is None


def test_a_buyback_review_ticket_carries_the_claim_and_review_and_no_request() -> None:
    ticket = Ticket.open_for_review(
        "claim-9",
        "finance",
        "ent-1",
        terms("FIN-REVIEW", kind="finance", opened_by="buyback_finance_review"),
        "回购财务审查",
        ticket_id="t-review",
        now=MONDAY_9,
        calendar=CALENDAR,
    )

    opened = ticket.events[0]
    assert (opened.request_id, opened.claim_id, opened.review) == (None, "claim-9", "finance")
    assert opened.origin == "buyback_review"
    assert ticket.origin_key == "claim:claim-9:finance"


def test_an_admission_review_is_identified_by_its_enterprise() -> None:
    ticket = Ticket.open_for_admission(
        "ent-7",
        terms("ENV-01", kind="environmental_review", opened_by="admission_environmental_review"),
        "环评报告编制",
        ticket_id="t-env",
        now=MONDAY_9,
        calendar=CALENDAR,
    )

    opened = ticket.events[0]
    assert (opened.request_id, opened.claim_id, opened.review) == (None, None, None)
    assert opened.origin == Origin.ADMISSION
    assert ticket.origin_key == "admission:ent-7"


def test_opening_refuses_a_naive_or_non_utc_instant() -> None:
    with pytest.raises(ValueError, match="aware UTC"):
        open_ticket(now=MONDAY_9.replace(tzinfo=None))


def test_a_request_sent_again_is_recognised_as_the_same_or_conflicting() -> None:
    req = request()
    ticket = Ticket.open_for_request(
        req, terms(), ticket_id="t-same", now=MONDAY_9, calendar=CALENDAR
    )

    assert ticket.is_same_request(req)
    assert not ticket.is_same_request(request(request_id=req.request_id, priority="urgent"))
    assert not ticket.is_same_request(request(request_id=req.request_id, description="别的"))


def test_every_ticketing_event_type_of_the_contract_has_a_class() -> None:
    fixed = {
        "service_request_rejected", "ticket_opened", "ticket_assigned", "ticket_accepted",
        "ticket_reassigned", "ticket_waiting", "ticket_resumed", "ticket_resolved",
        "ticket_closed", "sla_warning", "sla_breached", "ticket_escalated", "ticket_rated",
        "ticket_cancelled",
    }  # fmt: skip
    defined = {
        cls.event_type
        for cls in vars(events_module).values()
        if isinstance(cls, type) and issubclass(cls, DomainEvent) and "event_type" in vars(cls)
    }
    assert fixed <= defined


# -- service request checks ------------------------------------------------------------


def test_a_valid_request_from_an_admitted_enterprise_has_no_reasons() -> None:
    assert check_service_request(request(), True, terms()) == []


def test_a_request_gets_every_reason_found_at_once() -> None:
    reasons = check_service_request(
        request(priority="asap", description="   "), enterprise_admitted=False, terms=None
    )

    assert [r.code for r in reasons] == [
        ReasonCode.ENTERPRISE_NOT_ADMITTED,
        ReasonCode.UNKNOWN_SERVICE_CODE,
        ReasonCode.INVALID_PRIORITY,
        ReasonCode.INVALID_DESCRIPTION,
    ]
    assert all(r.message and r.field for r in reasons)


def test_an_inactive_code_is_rejected_as_inactive() -> None:
    reasons = check_service_request(request(), True, terms(active=False))
    assert [r.code for r in reasons] == [ReasonCode.SERVICE_INACTIVE]


def test_a_review_the_park_opens_itself_cannot_be_requested() -> None:
    reasons = check_service_request(request(), True, terms(opened_by="buyback_legal_review"))
    assert [r.code for r in reasons] == [ReasonCode.SERVICE_NOT_REQUESTABLE]


def test_control_characters_in_a_description_are_invalid_but_line_breaks_are_not() -> None:
    assert check_service_request(request(description="第一行\n第二行\t。"), True, terms()) == []
    reasons = check_service_request(request(description="bad\x00text"), True, terms())
    assert [r.code for r in reasons] == [ReasonCode.INVALID_DESCRIPTION]


def test_a_rejection_event_carries_the_request_and_no_ticket() -> None:
    req = request()
    reasons = check_service_request(req, False, terms())
    event = reject_service_request(req, reasons, MONDAY_9, "aux-shangjie")

    payload = event_payload(event)
    assert payload["ticket_id"] is None and payload["request_id"] == req.request_id
    assert payload["claim_id"] is None and payload["review"] is None
    assert payload["reasons"] == [
        {"code": "enterprise_not_admitted", "message": reasons[0].message, "field": "enterprise_id"}
    ]


@settings(max_examples=200, deadline=None, database=None)
@given(
    description=st.text(max_size=5000),
    priority=st.text(max_size=20),
    code=st.text(max_size=40),
    admitted=st.booleans(),
)
def test_request_checks_never_crash_on_hostile_text(
    description: str, priority: str, code: str, admitted: bool
) -> None:
    reasons = check_service_request(
        request(description=description, priority=priority, service_code=code), admitted, terms()
    )
    assert all(r.code in ReasonCode for r in reasons)


# -- transitions -----------------------------------------------------------------------


def test_the_happy_path_records_each_transition_in_order() -> None:
    ticket = open_ticket()
    ticket.assign("lawco", MONDAY_9)
    ticket.accept(LATER, CALENDAR)
    ticket.progress("审查中", False, LATER, CALENDAR)
    ticket.progress("请补充材料", True, LATER, CALENDAR)
    ticket.resume("enterprise", LATER + timedelta(hours=1))
    ticket.resolve("done", (), None, "完成", LATER + timedelta(hours=2), CALENDAR)
    ticket.rate(5, "很好", LATER + timedelta(hours=3))

    assert event_types(ticket) == [
        "ticket_opened",
        "ticket_assigned",
        "ticket_accepted",
        "ticket_progressed",
        "ticket_progressed",
        "ticket_waiting",
        "ticket_resumed",
        "ticket_resolved",
        "ticket_rated",
        "ticket_closed",
    ]
    assert ticket.status == TicketStatus.CLOSED


def test_a_closed_ticket_takes_no_assignment() -> None:
    ticket = resolved_ticket()
    ticket.rate(4, "", LATER)
    with pytest.raises(IllegalTicketTransition):
        ticket.assign("other", LATER)


def test_a_reply_to_a_ticket_that_is_not_waiting_changes_nothing() -> None:
    ticket = open_ticket()
    assert ticket.resume("enterprise", LATER) is False
    assert event_types(ticket) == ["ticket_opened"]


# -- cancellation ----------------------------------------------------------------------


@pytest.mark.parametrize("steps", [0, 1, 2, 3])
def test_cancel_works_from_every_unresolved_state_and_names_the_assignee(steps: int) -> None:
    ticket = open_ticket()
    if steps >= 1:
        ticket.assign("lawco", MONDAY_9)
    if steps >= 2:
        ticket.accept(LATER, CALENDAR)
    if steps >= 3:
        ticket.progress("等待", True, LATER, CALENDAR)

    assert ticket.cancel("claim_withdrawn", LATER) is True

    cancelled = ticket.events[-1]
    assert cancelled.event_type == "ticket_cancelled"
    assert cancelled.reason == "claim_withdrawn"
    assert cancelled.firm_id == (None if steps == 0 else "lawco")
    assert ticket.status == TicketStatus.CANCELLED


def test_cancelling_twice_or_after_resolution_records_nothing() -> None:
    ticket = open_ticket()
    ticket.cancel("claim_withdrawn", LATER)
    assert ticket.cancel("claim_withdrawn", LATER) is False
    done = resolved_ticket()
    assert done.cancel("claim_withdrawn", LATER) is False
    assert done.status == TicketStatus.RESOLVED


# -- ratings and closing ---------------------------------------------------------------


def test_a_rating_closes_a_resolved_ticket() -> None:
    ticket = resolved_ticket()
    assert ticket.rate(4, "及时", LATER) is True
    assert event_types(ticket)[-2:] == ["ticket_rated", "ticket_closed"]
    assert ticket.events[-2].firm_id == "lawco"


def test_the_same_rating_again_is_a_no_op_and_a_different_one_is_refused() -> None:
    ticket = resolved_ticket()
    ticket.rate(4, "及时", LATER)
    assert ticket.rate(4, "及时", LATER) is False
    with pytest.raises(RatingRefused) as refused:
        ticket.rate(1, "改主意了", LATER)
    assert refused.value.reason.code == ReasonCode.ALREADY_RATED


def test_rating_an_unresolved_ticket_is_not_yet_applicable() -> None:
    ticket = open_ticket()
    with pytest.raises(NotYetApplicable):
        ticket.rate(5, "", LATER)


def test_rating_a_cancelled_ticket_is_refused() -> None:
    ticket = open_ticket()
    ticket.cancel("claim_withdrawn", LATER)
    with pytest.raises(RatingRefused) as refused:
        ticket.rate(5, "", LATER)
    assert refused.value.reason.code == ReasonCode.TICKET_CANCELLED


@pytest.mark.parametrize("score", [0, 6, -1, True, 4.0, "5", None])
def test_a_score_outside_one_to_five_or_not_an_integer_is_refused(score: object) -> None:
    with pytest.raises(RatingRefused) as refused:
        resolved_ticket().rate(score, "", LATER)
    assert refused.value.reason.code == ReasonCode.INVALID_SCORE


def test_a_resolved_ticket_closes_by_itself_after_n_business_days() -> None:
    ticket = open_ticket()
    ticket.assign("lawco", MONDAY_9)
    friday_17 = utc(2026, 11, 27, 9)  # Friday 17:00 local
    ticket.resolve("done", (), None, "", friday_17, CALENDAR)
    policy = SlaPolicy(close_after_business_days=2)

    # Two business days after Friday: Monday and Tuesday; due at 24:00 Tuesday local.
    due = utc(2026, 12, 1, 16)
    assert ticket.auto_close_at(CALENDAR, policy) == due
    assert ticket.close_if_due(due - timedelta(seconds=1), CALENDAR, policy) is False
    assert ticket.close_if_due(due, CALENDAR, policy) is True
    assert (
        ticket.events[-1].event_type == "ticket_closed" and ticket.events[-1].why == "auto_closed"
    )


def test_an_auto_closed_ticket_still_takes_its_first_rating_without_closing_again() -> None:
    ticket = resolved_ticket()
    ticket.close_if_due(utc(2027, 1, 1), CALENDAR, SlaPolicy(close_after_business_days=1))
    ticket.rate(3, "一般", utc(2027, 1, 2))
    assert event_types(ticket)[-2:] == ["ticket_closed", "ticket_rated"]


# -- work item and payloads ------------------------------------------------------------


CARD = EnterpriseCard(
    enterprise_id="ent-1",
    name="上街精密机械有限公司",
    uscc="91410100MA44XXXX1X",
    legal_representative="王五",
    contact_phone="13800000000",
)


def test_the_work_item_carries_only_this_ticket_and_its_enterprise() -> None:
    ticket = open_ticket(terms(fee_policy=FeePolicy.QUOTED))
    ticket.assign("lawco", MONDAY_9)

    item = work_item_for(ticket, CARD, CALENDAR)

    payload = event_payload(item)
    assert payload["firm_id"] == "lawco" and payload["enterprise"]["name"] == CARD.name
    assert payload["first_response_due_at"] == "2026-11-23T06:00:00Z"
    assert payload["fee_policy"] == "quoted" and payload["fee_fen"] is None


def test_no_work_item_for_an_unassigned_ticket_or_for_another_enterprise() -> None:
    ticket = open_ticket()
    with pytest.raises(IllegalTicketTransition):
        work_item_for(ticket, CARD, CALENDAR)
    ticket.assign("lawco", MONDAY_9)
    with pytest.raises(ValueError):
        work_item_for(
            ticket, EnterpriseCard(**{**CARD.__dict__, "enterprise_id": "ent-2"}), CALENDAR
        )


def test_every_event_payload_is_json_with_utc_z_times() -> None:
    ticket = open_ticket()
    ticket.assign("lawco", MONDAY_9)
    ticket.resolve("done", (), None, "", LATER, CALENDAR)
    ticket.rate(5, "好", LATER)

    for event in ticket.events:
        text = json.dumps(event_payload(event), ensure_ascii=False)
        assert "+00:00" not in text
        assert "occurred_at" not in event_payload(event)


def test_the_work_messages_are_named_as_the_contract_names_them() -> None:
    """One name per work message: the domain's ``message_type`` is the type the service
    sends on ``ticketing.work`` and the contract registers (was ``work_item``)."""
    ticket = Ticket.open_for_request(
        request(request_id="0b7c2f5e-3f52-4a53-9d0e-6f1d1c1c9a01"),
        terms(fee_policy=FeePolicy.QUOTED),
        ticket_id="t-contract",
        now=MONDAY_9,
        calendar=CALENDAR,
        park_id="aux-shangjie",
    )
    ticket.assign("lawco", MONDAY_9)
    item = work_item_for(ticket, CARD, CALENDAR)
    withdrawn = WorkWithdrawn(ticket_id=ticket.ticket_id, firm_id="lawco", reason="reassigned")

    assert (WorkItem.message_type, WorkWithdrawn.message_type) == (
        "work_assigned",
        "work_withdrawn",
    )
    for message in (item, withdrawn):
        spec = REGISTRY.spec("ticketing", message.message_type, 1)
        assert spec.schema_class().validate(event_payload(message)) == {}


def test_the_assignment_snapshot_survives_the_stored_state_and_old_rows_lack_it() -> None:
    from services.ticketing.repository import ticket_from_state, ticket_state

    ticket = open_ticket(now=MONDAY_9)
    ticket.assign("a", MONDAY_9 + timedelta(minutes=30))
    state = json.loads(json.dumps(ticket_state(ticket)))
    again = ticket_from_state(state)
    assert again.resolution_before_assignment == ticket.resolution_before_assignment
    assert again.resolution_before_assignment == (timedelta(0), MONDAY_9)
    del state["resolution_before_assignment"]
    assert ticket_from_state(state).resolution_before_assignment is None
