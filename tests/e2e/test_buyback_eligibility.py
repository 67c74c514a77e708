"""Which claims the buyback service files and which it answers ``claim_ineligible``, with
the four services running: the enterprise, its units and its production start come from
onboarding as it really announces them (portal application, joint review, RPC), never
written into the buyback service's projection by the test.

The window: a claim received (park-local date, Asia/Shanghai) before the tenth
anniversary of the production start is in time; on the anniversary itself it is too
late; a 29 February start has its anniversary on 28 February.
"""

import uuid
from datetime import date, datetime, timedelta

import pytest

from tests.e2e.conftest import PARK, Enterprise, ParkWorld
from tests.e2e.flows import claim_answer, producing_enterprise
from tests.support.broker import wait_for


def reason_codes(answer: dict) -> set[str]:
    return {reason["code"] for reason in answer["payload"]["reasons"]}


def assert_ineligible(world: ParkWorld, claim_id: str, code: str) -> dict:
    answer = claim_answer(world, claim_id)
    assert answer["type"] == "claim_ineligible", answer
    assert code in reason_codes(answer), answer["payload"]
    for reason in answer["payload"]["reasons"]:
        assert reason["message"].strip(), f"a reason without a readable message: {reason}"
    # Nothing else about the claim (the buyback's outbox all sent): no review asked of
    # ticketing, no ticket opened.
    wait_for(lambda: world.unsent("buyback") == 0, message="the buyback's outbox sent")
    assert world.claim_events(claim_id) == ["claim_ineligible"]
    assert world.events_where("ticketing", claim_id=claim_id) == []
    return answer


def assert_filed(world: ParkWorld, claim_id: str) -> None:
    answer = claim_answer(world, claim_id)
    assert answer["type"] == "claim_filed", answer["payload"]
    world.wait_for("buyback", "claim_review_requested", claim_id=claim_id)


def test_an_enterprise_holding_only_leased_units_is_ineligible(park_world):
    park_world.start()
    tenant = producing_enterprise(park_world, ["B04-1F-01"], date(2026, 11, 3), tenure="lease")
    park_world.clock.park_day(2026, 11, 20)

    claim_id = park_world.request_buyback(tenant)

    # A purchase may still be on its way (units_allocated's queue): answered past the grace.
    park_world.clock.advance(minutes=31)
    assert_ineligible(park_world, claim_id, "no_purchased_units")


def test_an_enterprise_that_has_not_started_production_is_ineligible(park_world):
    park_world.start()
    buyer = park_world.admit(["B04-2F-01"])
    park_world.clock.park_day(2026, 11, 20)

    claim_id = park_world.request_buyback(buyer)

    # Its production_started may still be on its way: answered past the grace.
    park_world.clock.advance(minutes=31)
    assert_ineligible(park_world, claim_id, "production_not_started")


@pytest.mark.slow
def test_the_day_before_the_tenth_anniversary_is_in_time_and_the_anniversary_is_too_late(
    park_world,
):
    """Production started on 10 March 2016: the anniversary is 10 March 2026. The dates
    are the park's: 23:59 on 9 March in Zhengzhou (15:59 UTC) is still in time, 00:01 on
    10 March (16:01 UTC on the 9th) is not."""
    park_world.start()
    in_time = producing_enterprise(park_world, ["B05-1F-01"], date(2016, 3, 10))
    too_late = producing_enterprise(park_world, ["B05-1F-02"], date(2016, 3, 10))

    park_world.clock.now = datetime.fromisoformat("2026-03-09T15:59:00+00:00")
    first = park_world.request_buyback(in_time)
    assert_filed(park_world, first)

    park_world.clock.now = datetime.fromisoformat("2026-03-09T16:01:00+00:00")
    second = park_world.request_buyback(too_late)
    answer = assert_ineligible(park_world, second, "window_expired")
    assert "2026-03-10" in " ".join(r["message"] for r in answer["payload"]["reasons"])


@pytest.mark.slow
def test_a_29_february_start_reaches_its_tenth_anniversary_on_28_february(park_world):
    park_world.start()
    in_time = producing_enterprise(park_world, ["B05-3F-01"], date(2016, 2, 29))
    too_late = producing_enterprise(park_world, ["B05-3F-02"], date(2016, 2, 29))

    park_world.clock.park_day(2026, 2, 27)
    first = park_world.request_buyback(in_time)
    assert_filed(park_world, first)

    park_world.clock.park_day(2026, 2, 28)
    second = park_world.request_buyback(too_late)
    assert_ineligible(park_world, second, "window_expired")


def test_a_second_claim_while_one_is_open_is_ineligible(park_world):
    park_world.start()
    buyer = producing_enterprise(park_world, ["B06-1F-01"], date(2026, 11, 3))
    park_world.clock.park_day(2026, 11, 20)
    first = park_world.request_buyback(buyer)
    assert_filed(park_world, first)

    second = park_world.request_buyback(buyer)

    assert_ineligible(park_world, second, "claim_open")
    assert park_world.claim_events(first) == ["claim_filed", "claim_review_requested"]


def test_a_claim_sent_for_another_park_is_not_filed_there(park_world):
    park_world.start()
    park_world.add_review_firms()
    buyer = producing_enterprise(park_world, ["B06-2F-01"], date(2026, 11, 3))
    park_world.clock.park_day(2026, 11, 20)
    claim_id = str(uuid.uuid4())

    park_world.publishers["portal"].publish(
        "buyback_requested",
        park_world.claim_payload(buyer, claim_id),
        park_id="shangjie-equipment",  # the district's other park: not the enterprise's
    )

    answer = claim_answer(park_world, claim_id)
    if answer["type"] == "claim_ineligible":  # refused: unknown in that park
        assert "unknown_enterprise" in reason_codes(answer), answer["payload"]
        assert park_world.events_where("ticketing", claim_id=claim_id) == []
    else:  # or filed where the enterprise is, its reviews with its park's firms
        assert answer["park_id"] == PARK, answer
        park_world.review_tickets(claim_id)


def test_of_claims_sent_at_once_for_one_enterprise_exactly_one_is_filed(park_world):
    park_world.start()
    buyer = producing_enterprise(park_world, ["B06-3F-01"], date(2026, 11, 3))
    park_world.clock.park_day(2026, 11, 20)

    claim_ids = [park_world.request_buyback(buyer) for _ in range(5)]

    answers = {claim_id: claim_answer(park_world, claim_id) for claim_id in claim_ids}
    filed = [c for c, a in answers.items() if a["type"] == "claim_filed"]
    assert len(filed) == 1, {c: a["type"] for c, a in answers.items()}
    for claim_id in set(claim_ids) - set(filed):
        assert reason_codes(answers[claim_id]) == {"claim_open"}
    open_claims = [c["claim_id"] for c in park_world.rpc("buyback", "list_claims") if c["open"]]
    assert open_claims == filed


def test_a_claim_for_an_enterprise_nobody_admitted_is_ineligible_past_the_grace(park_world):
    """Sent 31 minutes ago (the service waits 30 for an admission that may be in
    flight), for an enterprise no service has heard of."""
    park_world.start()
    park_world.clock.park_day(2026, 11, 20)
    claim_id = str(uuid.uuid4())
    stranger = Enterprise(f"ent-{uuid.uuid4().hex[:12]}", str(uuid.uuid4()), ())

    park_world.send(
        park_world.envelope(
            "portal",
            "buyback_requested",
            park_world.claim_payload(stranger, claim_id),
            occurred_at=park_world.clock() - timedelta(minutes=31),
        )
    )

    assert_ineligible(park_world, claim_id, "unknown_enterprise")
