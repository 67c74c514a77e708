"""Duplicate and out-of-order events reaching the buyback service, with the four services
running: the same request twice (the very same event again, and the same claim sent
anew), a review's ``ticket_resolved`` delivered twice, and onboarding's events for the
projection arriving in reverse order. Each has one effect, once."""

import uuid
from datetime import date

import pytest

from tests.e2e.conftest import PARK
from tests.e2e.flows import (
    COMPLETED_CLAIM,
    claim_answer,
    complete_review,
    onboarding_story,
    one_of_each,
    producing_enterprise,
)
from tests.support.broker import wait_for

pytestmark = pytest.mark.slow


def test_the_same_request_twice_files_one_claim_with_one_pair_of_reviews(park_world):
    park_world.start()
    firms = park_world.add_review_firms()
    buyer = producing_enterprise(park_world, ["B10-1F-01"], date(2026, 11, 3))
    park_world.clock.park_day(2026, 11, 20)
    claim_id = str(uuid.uuid4())
    request = park_world.envelope(
        "portal", "buyback_requested", park_world.claim_payload(buyer, claim_id)
    )

    park_world.send(request)
    park_world.send(request)  # the very same event again (a redelivery, a replay)
    anew = park_world.publish(  # the portal sending the same claim anew
        "portal", "buyback_requested", park_world.claim_payload(buyer, claim_id)
    )

    assert claim_answer(park_world, claim_id)["type"] == "claim_filed"
    wait_for(
        lambda: park_world.applied("buyback", anew["event_id"]),
        message="the buyback service to take the claim sent anew",
    )
    tickets = park_world.review_tickets(claim_id)
    for review in ("legal", "finance"):
        complete_review(firms[review], tickets[review], "approve")
    park_world.wait_for("buyback", "claim_closed", claim_id=claim_id)
    assert one_of_each(park_world, "buyback", claim_id) == dict.fromkeys(COMPLETED_CLAIM, 1)
    assert len(park_world.events_where("ticketing", "ticket_opened", claim_id=claim_id)) == 2
    assert [c["claim_id"] for c in park_world.rpc("buyback", "list_claims")] == [claim_id]


def test_a_review_resolution_delivered_twice_counts_once(park_world):
    park_world.start()
    firms = park_world.add_review_firms()
    buyer = producing_enterprise(park_world, ["B10-2F-01"], date(2026, 11, 3))
    park_world.clock.park_day(2026, 11, 20)
    claim_id = park_world.request_buyback(buyer)
    tickets = park_world.review_tickets(claim_id)

    complete_review(firms["legal"], tickets["legal"], "approve")
    [legal] = park_world.wait_for("ticketing", "ticket_resolved", claim_id=claim_id)
    park_world.send(legal)  # the same event again, as ticketing
    again = dict(legal, event_id=str(uuid.uuid4()))  # the same resolution, a new event
    park_world.send(again)
    wait_for(
        lambda: park_world.applied("buyback", again["event_id"]),
        message="the buyback service to take the repeated resolution",
    )
    assert "claim_approved" not in park_world.claim_events(claim_id)
    complete_review(firms["finance"], tickets["finance"], "approve")

    [finance] = park_world.wait_for(
        "ticketing", "ticket_resolved", claim_id=claim_id, review="finance"
    )
    [approved] = park_world.wait_for("buyback", "claim_approved", claim_id=claim_id)
    # Approved by the finance review's resolution — a repeated legal one is not a second
    # review.
    assert approved["causation_id"] == finance["event_id"]
    park_world.wait_for("billing", "buyback_settlement_computed", claim_id=claim_id)
    assert one_of_each(park_world, "buyback", claim_id)["claim_approved"] == 1
    assert one_of_each(park_world, "buyback", claim_id)["settlement_requested"] == 1
    assert one_of_each(park_world, "billing", claim_id)["buyback_settlement_computed"] == 1


def test_onboarding_events_in_reverse_order_build_the_same_projection(park_world):
    """production_started, then units_allocated, then enterprise_admitted — published as
    onboarding's own broker user, for an enterprise of the buyback's projection only."""
    park_world.start()
    enterprise, story = onboarding_story(
        # as recorded at the sale: the second is not today's list price
        {"B17-3F-01": 96_000_000, "B17-3F-02": 96_001_000},
        "2026-11-05",
    )
    units = enterprise.units
    park_world.clock.park_day(2026, 11, 20)
    for type_, payload in reversed(story):
        sent = park_world.publish("onboarding", type_, payload)
        wait_for(  # each applied before the next is sent: the order is the one shown
            lambda e=sent: park_world.applied("buyback", e["event_id"]),
            timeout=30,
            message=f"the buyback service to apply {type_}",
        )

    gross = 96_000_000 + 96_001_000
    wait_for(
        lambda: (
            park_world.rpc("buyback", "exposure_report", PARK, "2026-11-20")["total_fen"] == gross
        ),
        timeout=30,
        message="the projection to hold both units, bought, production started",
    )
    claim_id = park_world.request_buyback(enterprise)

    filed = claim_answer(park_world, claim_id)
    assert filed["type"] == "claim_filed", filed["payload"]
    assert filed["payload"]["gross_fen"] == gross
    assert sorted(filed["payload"]["units"], key=lambda u: u["unit_id"]) == [
        {"unit_id": u["unit_id"], "price_fen": u["price_fen"]} for u in units
    ]
    assert filed["payload"]["window_ends_on"] == "2036-11-04"
    assert park_world.rpc("buyback", "exposure_report", PARK, "2026-11-20")["by_building"] == [
        {"building": "B17", "total_fen": gross, "units": 2}
    ]
    assert filed["park_id"] == PARK


def test_a_withdrawal_sent_before_its_request_leaves_no_review_open(park_world):
    """The portal's buyback_withdrawn overtakes its buyback_requested (separate queues):
    the claim ends withdrawn, and whatever order ticketing then hears claim_review_requested
    and claim_withdrawn in, no review ticket stays open at a firm."""
    park_world.start()
    park_world.add_review_firms()
    buyer = producing_enterprise(park_world, ["B10-3F-01"], date(2026, 11, 3))
    park_world.clock.park_day(2026, 11, 20)
    claim_id = str(uuid.uuid4())

    park_world.publish(
        "portal",
        "buyback_withdrawn",
        {"claim_id": claim_id, "enterprise_id": buyer.enterprise_id, "reason": "撤回申请"},
    )
    park_world.request_buyback(buyer, claim_id)

    park_world.wait_for("buyback", "claim_withdrawn", claim_id=claim_id)
    assert "settlement_requested" not in park_world.claim_events(claim_id)

    for type_ in ("claim_review_requested", "claim_withdrawn"):
        [event] = park_world.wait_for("buyback", type_, claim_id=claim_id)
        wait_for(
            lambda e=event: park_world.applied("ticketing", e["event_id"]),
            timeout=30,
            message=f"ticketing to take {type_}",
        )

    # Both taken and what they caused published: the observer holds every ticket event.
    wait_for(lambda: park_world.unsent("ticketing") == 0, message="ticketing's outbox sent")

    def every_opened_review_cancelled():
        opened = park_world.events_where("ticketing", "ticket_opened", claim_id=claim_id)
        cancelled = park_world.events_where("ticketing", "ticket_cancelled", claim_id=claim_id)
        return {e["payload"]["ticket_id"] for e in opened} == {
            e["payload"]["ticket_id"] for e in cancelled
        }

    wait_for(every_opened_review_cancelled, timeout=30, message="no review left open")
    assert park_world.rpc("buyback", "claim_history", claim_id)["claim"]["state"] == "withdrawn"


def test_a_request_ahead_of_onboardings_events_is_filed_once_they_arrive(park_world):
    """The buyback service does not know the enterprise yet when the request comes: it
    retries (its admission may be in flight) and files the claim once it knows."""
    park_world.start()
    park_world.clock.park_day(2026, 11, 20)
    enterprise, story = onboarding_story({"B17-4F-01": 96_000_000}, "2026-11-05")

    claim_id = park_world.request_buyback(enterprise)
    for type_, payload in story:
        park_world.publish("onboarding", type_, payload)

    answer = claim_answer(park_world, claim_id)
    assert answer["type"] == "claim_filed", answer["payload"]
    assert answer["payload"]["gross_fen"] == 96_000_000
    assert park_world.dead_letters()["buyback"] == []


def test_a_request_before_the_units_of_an_admitted_enterprise_waits_for_them(park_world):
    """The buyback service knows the enterprise as admitted, but its units_allocated and
    production_started are still in flight (separate queues — e.g. a backlog after an
    outage, consumed in parallel) when the claim comes: it must wait for them, as for an
    admission in flight, not refuse an eligible claim for good."""
    park_world.start()
    park_world.clock.park_day(2026, 11, 20)
    enterprise, story = onboarding_story({"B17-4F-02": 96_000_000}, "2026-11-05")
    (_, admitted), *rest = story
    sent = park_world.publish("onboarding", "enterprise_admitted", admitted)
    wait_for(
        lambda: park_world.applied("buyback", sent["event_id"]),
        message="the buyback service to know the enterprise as admitted",
    )

    claim_id = park_world.request_buyback(enterprise)
    for type_, payload in rest:
        park_world.publish("onboarding", type_, payload)

    answer = claim_answer(park_world, claim_id)
    assert answer["type"] == "claim_filed", answer["payload"]
