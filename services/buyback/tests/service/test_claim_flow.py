"""The buyback service on the real broker and PostgreSQL, driven as the other services
and the portal drive it, with the test's clock."""

import json
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from nameko.exceptions import RemoteError

from services.buyback.exceptions import IllegalTransition
from services.buyback.tests.service.conftest import PRICE
from tests.support.broker import wait_for


def approved(buyback):
    enterprise = buyback.enterprise()
    claim = buyback.request(enterprise)
    buyback.wait_for_event("claim_review_requested", claim_id=claim)
    buyback.resolve(claim, enterprise, "legal")
    buyback.resolve(claim, enterprise, "finance")
    buyback.wait_for_event("settlement_requested", claim_id=claim)
    return enterprise, claim


def test_the_happy_path_from_request_to_closed(buyback):
    buyback.start()
    enterprise = buyback.enterprise()
    claim = buyback.request(enterprise)

    [filed] = buyback.wait_for_event("claim_filed", claim_id=claim)
    [review] = buyback.wait_for_event("claim_review_requested", claim_id=claim)
    assert filed["payload"]["gross_fen"] == 2 * PRICE
    assert review["payload"]["reviews"] == ["legal", "finance"]
    assert review["correlation_id"] == filed["correlation_id"]

    buyback.resolve(claim, enterprise, "legal")
    buyback.resolve(claim, enterprise, "finance")
    buyback.wait_for_event("claim_approved", claim_id=claim)
    [request] = buyback.wait_for_event("settlement_requested", claim_id=claim)
    assert request["payload"]["units"] == [
        {"unit_id": "B07-2F-03", "price_fen": PRICE},
        {"unit_id": "B07-2F-04", "price_fen": PRICE},
    ]

    buyback.compute(claim, enterprise, 2 * PRICE, 2 * PRICE - 3_000_000)
    [settled] = buyback.wait_for_event("claim_settled", claim_id=claim)
    assert settled["payload"]["net_fen"] == 2 * PRICE - 3_000_000
    assert settled["payload"]["settled_on"] == "2026-11-27"

    buyback.release(claim, enterprise)
    wait_for(lambda: "units_released" in steps_of(buyback, claim), message="the release recorded")
    assert buyback.state(claim) == "awaiting_release"  # billing has not booked it yet
    assert buyback.events_where("claim_closed", claim_id=claim) == []
    buyback.netted(claim, enterprise)
    buyback.wait_for_event("claim_closed", claim_id=claim)
    assert buyback.rpc("list_claims", state="closed")[0]["claim_id"] == claim
    history = buyback.rpc("claim_history", claim)["steps"]
    steps = [s["step"] for s in history]
    assert steps[0] == "claim_filed" and steps[-1] == "claim_closed"
    assert {s["step"]: s["sender"] for s in history} == {
        "claim_filed": "portal",
        "claim_review_requested": "portal",
        "review_resolved": "ticketing",
        "claim_approved": "ticketing",
        "settlement_requested": "ticketing",
        "settlement_recorded": "billing",
        "claim_settled": "billing",
        "units_released": "onboarding",
        "settlement_netted": "billing",
        "claim_closed": "billing",
    }
    assert buyback.dead_letters() == []


def steps_of(buyback, claim_id):
    return [s["step"] for s in buyback.rpc("claim_history", claim_id)["steps"]]


def test_a_rejected_review_rejects_the_claim(buyback):
    buyback.start()
    enterprise = buyback.enterprise()
    claim = buyback.request(enterprise)
    buyback.wait_for_event("claim_review_requested", claim_id=claim)
    buyback.resolve(claim, enterprise, "finance", "reject", ["流水不支持经营困难"])
    [rejected] = buyback.wait_for_event("claim_rejected", claim_id=claim)
    assert rejected["payload"]["rejected_by"] == ["finance"]
    buyback.resolve(claim, enterprise, "legal")  # late: recorded, nothing more
    wait_for(
        lambda: len(buyback.rpc("claim_history", claim)["claim"]["reviews"]) == 2,
        message="the late review recorded",
    )
    assert buyback.events_where("settlement_requested", claim_id=claim) == []


def test_ineligible_claims_get_their_reason_codes(buyback, clock):
    buyback.start()
    leased = buyback.enterprise(tenure="lease", units=("B01-1F-01",))
    not_started = buyback.enterprise(started_on=None, units=("B01-1F-02",))
    anniversary = buyback.enterprise(started_on=date(2016, 11, 27), units=("B01-1F-03",))
    day_before = buyback.enterprise(started_on=date(2016, 11, 28), units=("B01-1F-04",))
    # Final at once: no event in flight can change an expired window.
    expired = buyback.request(anniversary)
    [ineligible] = buyback.wait_for_event("claim_ineligible", claim_id=expired)
    assert [r["code"] for r in ineligible["payload"]["reasons"]] == ["window_expired"]
    buyback.wait_for_event("claim_filed", claim_id=buyback.request(day_before))
    # A purchase or a production start may still be in flight: retried within the grace…
    waiting = {buyback.request(leased): "no_purchased_units"}
    waiting[buyback.request(not_started)] = "production_not_started"
    wait_for(buyback.retrying, message="the requests in a retry queue")
    assert [buyback.state(claim) for claim in waiting] == [None, None]
    # …and answered once it has passed (the 1 s grace, by the service's clock).
    clock.now = datetime.now(UTC) + timedelta(hours=1)
    for claim, code in waiting.items():
        [ineligible] = buyback.wait_for_event("claim_ineligible", claim_id=claim)
        assert [r["code"] for r in ineligible["payload"]["reasons"]] == [code]


def test_a_second_claim_while_one_is_open_is_ineligible(buyback):
    buyback.start()
    enterprise = buyback.enterprise()
    first = buyback.request(enterprise)
    buyback.wait_for_event("claim_filed", claim_id=first)
    second = buyback.request(enterprise)
    [ineligible] = buyback.wait_for_event("claim_ineligible", claim_id=second)
    assert ineligible["payload"]["reasons"][0]["code"] == "claim_open"


def test_a_request_before_its_enterprise_is_known_is_retried_until_it_is(buyback):
    buyback.start()  # the service's clock is behind the portal's: inside the grace
    claim = buyback.request("ent-early")
    wait_for(buyback.retrying, message="the request in a retry queue")
    assert buyback.state(claim) is None
    buyback.enterprise(enterprise_id="ent-early")
    buyback.wait_for_event("claim_filed", claim_id=claim)


def test_a_request_for_an_enterprise_still_unknown_after_the_grace_is_ineligible(buyback, clock):
    clock.now = datetime.now(UTC) + timedelta(hours=1)  # the 1 s grace is long past
    buyback.start()
    claim = buyback.request(f"ent-{uuid.uuid4().hex[:8]}")
    [ineligible] = buyback.wait_for_event("claim_ineligible", claim_id=claim)
    assert [r["code"] for r in ineligible["payload"]["reasons"]] == ["unknown_enterprise"]


def test_duplicate_and_out_of_order_events_have_one_effect(buyback):
    buyback.start()
    enterprise, claim = approved(buyback)
    buyback.resolve(claim, enterprise, "legal")  # a duplicate resolution
    buyback.compute(claim, enterprise, 2 * PRICE, 2 * PRICE)
    buyback.compute(claim, enterprise, 2 * PRICE, 2 * PRICE)  # billing answers twice
    buyback.wait_for_event("claim_settled", claim_id=claim)
    buyback.netted(claim, enterprise)  # billing's netting overtakes the release
    buyback.netted(claim, enterprise)
    buyback.release(claim, enterprise)
    buyback.release(claim, enterprise)
    buyback.wait_for_event("claim_closed", claim_id=claim)
    buyback.request(enterprise, claim)  # the request again: no effect
    wait_for(lambda: buyback.dead_letters() == [], message="no dead letters")
    for type_ in ("claim_filed", "claim_approved", "settlement_requested", "claim_settled"):
        assert len(buyback.events_where(type_, claim_id=claim)) == 1, type_
    assert len(buyback.events_where("claim_closed", claim_id=claim)) == 1


def test_a_resolution_before_the_request_is_retried_until_the_claim_exists(buyback):
    buyback.start()
    enterprise = buyback.enterprise()
    claim = str(uuid.uuid4())
    buyback.resolve(claim, enterprise, "legal")
    buyback.resolve(claim, enterprise, "finance")
    buyback.request(enterprise, claim)
    buyback.wait_for_event("settlement_requested", claim_id=claim)


def test_a_negative_net_still_settles_and_closes(buyback):
    buyback.start()
    enterprise, claim = approved(buyback)
    buyback.compute(claim, enterprise, 2 * PRICE, -4_000_000)
    [settled] = buyback.wait_for_event("claim_settled", claim_id=claim)
    assert settled["payload"]["net_fen"] == -4_000_000
    history = buyback.rpc("claim_history", claim)
    assert history["claim"]["settlement"]["payout_fen"] == 0


def test_the_enterprise_withdraws_through_the_portal(buyback):
    buyback.start()
    enterprise = buyback.enterprise()
    claim = buyback.request(enterprise)
    buyback.wait_for_event("claim_review_requested", claim_id=claim)
    buyback.publish(
        "portal",
        "buyback_withdrawn",
        {"claim_id": claim, "enterprise_id": enterprise, "reason": "订单恢复"},
    )
    [withdrawn] = buyback.wait_for_event("claim_withdrawn", claim_id=claim)
    assert withdrawn["payload"]["reason"] == "订单恢复"
    assert buyback.state(claim) == "withdrawn"


def test_the_operator_withdraws_over_rpc_and_is_refused_after_settlement(buyback):
    buyback.start()
    enterprise = buyback.enterprise()
    claim = buyback.request(enterprise)
    buyback.wait_for_event("claim_filed", claim_id=claim)
    view = buyback.rpc("withdraw_claim", claim, "企业已迁出", "op-zhang")
    assert view["state"] == "withdrawn"
    buyback.wait_for_event("claim_withdrawn", claim_id=claim)

    other, settled_claim = approved(buyback)
    buyback.compute(settled_claim, other, 2 * PRICE, 2 * PRICE)
    buyback.wait_for_event("claim_settled", claim_id=settled_claim)
    with pytest.raises(IllegalTransition, match=r"\[already_settled\]"):
        buyback.rpc("withdraw_claim", settled_claim, "too late", "op-zhang")
    buyback.publish(
        "portal",
        "buyback_withdrawn",
        {"claim_id": settled_claim, "enterprise_id": other, "reason": "x"},
    )
    [refused] = buyback.wait_for_event("claim_withdrawal_refused", claim_id=settled_claim)
    assert refused["payload"]["code"] == "already_settled"


@pytest.mark.parametrize(
    ("method", "args"),
    [
        ("claim_history", ["not-a-uuid"]),
        ("list_claims", ["nonsense"]),
        ("withdraw_claim", [str(uuid.uuid4()), "", "op"]),
        ("exposure_report", ["2026-13-01"]),
    ],
)
def test_bad_rpc_arguments_get_a_clear_error(buyback, method, args):
    buyback.start()
    with pytest.raises(Exception, match=r"\[invalid_request\]") as error:
        buyback.rpc(method, *args)
    assert not isinstance(error.value, RemoteError)


def test_the_review_deadline_escalates_once(buyback, clock):
    buyback.start()
    enterprise = buyback.enterprise()
    claim = buyback.request(enterprise)
    buyback.wait_for_event("claim_review_requested", claim_id=claim)
    # Friday 11-27 + 10 business days ends at 24:00 on Friday 12-11 (16:00 UTC)
    clock.advance(days=14, hours=13, minutes=59)
    buyback.scan()
    assert buyback.events_where("claim_escalated", claim_id=claim) == []
    clock.advance(minutes=1)
    buyback.scan()
    buyback.scan()
    [escalated] = buyback.wait_for_event("claim_escalated", claim_id=claim)
    assert escalated["payload"]["stage"] == "review"


def test_the_settlement_deadline_resends_then_escalates(buyback, clock):
    buyback.start()
    enterprise, claim = approved(buyback)
    clock.advance(hours=24)
    buyback.scan()
    [first, again] = buyback.wait_for_event("settlement_requested", count=2, claim_id=claim)
    assert again["payload"] == first["payload"]
    clock.advance(hours=24)
    buyback.scan()
    [escalated] = buyback.wait_for_event("claim_escalated", claim_id=claim)
    assert escalated["payload"]["stage"] == "settlement"
    buyback.compute(claim, enterprise, 2 * PRICE, 2 * PRICE)  # late, still settles
    buyback.wait_for_event("claim_settled", claim_id=claim)


def test_a_release_that_never_comes_leaves_the_claim_stuck_until_it_does(buyback, clock):
    buyback.start()
    enterprise, claim = approved(buyback)
    buyback.compute(claim, enterprise, 2 * PRICE, 2 * PRICE)
    buyback.wait_for_event("claim_settled", claim_id=claim)
    buyback.netted(claim, enterprise)
    wait_for(lambda: "settlement_netted" in steps_of(buyback, claim), message="the netting")
    clock.advance(days=10)
    buyback.scan()
    [escalated] = buyback.wait_for_event("claim_escalated", claim_id=claim)
    assert escalated["payload"]["stage"] == "release"
    assert [c["claim_id"] for c in buyback.rpc("list_claims", state="stuck")] == [claim]
    buyback.release(claim, enterprise)
    buyback.wait_for_event("claim_closed", claim_id=claim)
    assert "closed_after_stuck" in steps_of(buyback, claim)


def test_a_release_onboarding_refuses_makes_the_claim_stuck_at_once(buyback):
    buyback.start()
    enterprise, claim = approved(buyback)
    buyback.compute(claim, enterprise, 2 * PRICE, 2 * PRICE)
    buyback.wait_for_event("claim_settled", claim_id=claim)
    buyback.refuse_release(claim, enterprise)
    [escalated] = buyback.wait_for_event("claim_escalated", claim_id=claim)
    assert escalated["payload"]["stage"] == "release_refused"
    assert "B07-2F-04 (leased, not sold to it)" in escalated["payload"]["reason"]
    assert buyback.state(claim) == "stuck"  # no timer pass, no deadline needed
    assert buyback.dead_letters() == []


def test_a_netting_that_never_comes_leaves_the_claim_stuck_and_escalated(buyback, clock):
    buyback.start()
    enterprise, claim = approved(buyback)
    buyback.compute(claim, enterprise, 2 * PRICE, 2 * PRICE)
    buyback.wait_for_event("claim_settled", claim_id=claim)
    buyback.release(claim, enterprise)
    wait_for(lambda: "units_released" in steps_of(buyback, claim), message="the release")
    clock.advance(hours=24)
    buyback.scan()
    [escalated] = buyback.wait_for_event("claim_escalated", claim_id=claim)
    assert escalated["payload"]["stage"] == "netting"
    assert buyback.state(claim) == "stuck"
    buyback.netted(claim, enterprise)  # billing books it late: closed, recorded as such
    buyback.wait_for_event("claim_closed", claim_id=claim)


def test_a_netting_with_another_payout_is_escalated(buyback):
    buyback.start()
    enterprise, claim = approved(buyback)
    buyback.compute(claim, enterprise, 2 * PRICE, 2 * PRICE - 3_000_000)
    buyback.wait_for_event("claim_settled", claim_id=claim)
    buyback.netted(claim, enterprise, net_fen=2 * PRICE - 4_000_000)
    [escalated] = buyback.wait_for_event("claim_escalated", claim_id=claim)
    assert escalated["payload"]["stage"] == "netting_mismatch"
    assert f"payout_fen {2 * PRICE - 4_000_000}" in escalated["payload"]["reason"]


def test_a_review_outcome_or_settlement_forged_by_the_operator_cli_is_refused(buyback):
    buyback.start()
    enterprise = buyback.enterprise()
    claim = buyback.request(enterprise)
    buyback.wait_for_event("claim_review_requested", claim_id=claim)
    for review in ("legal", "finance"):
        buyback.forge(
            "ticketing",
            "ticket_resolved",
            {
                "ticket_id": f"tk-{review}",
                "enterprise_id": enterprise,
                "service_code": "LEGAL-09",
                "origin": "buyback_review",
                "request_id": None,
                "claim_id": claim,
                "review": review,
                "firm_id": "law-01",
                "outcome": "approve",
                "reasons": [],
                "fee_fen": None,
            },
        )
    buyback.forge(
        "billing",
        "buyback_settlement_computed",
        {
            "claim_id": claim,
            "enterprise_id": enterprise,
            "gross_fen": 2 * PRICE,
            "offsets": [],
            "net_fen": 2 * PRICE,
        },
    )
    letters = wait_for(
        lambda: len(found := buyback.dead_letters()) >= 3 and found, message="3 dead letters"
    )
    reasons = sorted(str(letter.headers["park-error"]) for letter in letters)
    assert all("untrusted_sender" in r and "'park-cli'" in r for r in reasons), reasons
    assert sum("ticket_resolved" in r for r in reasons) == 2
    assert buyback.state(claim) == "under_review"
    assert buyback.rpc("claim_history", claim)["claim"]["reviews"] == {}


def test_the_service_stopped_between_each_pair_of_steps_resumes(buyback, clock):
    buyback.start()
    enterprise = buyback.enterprise()
    buyback.stop()
    claim = buyback.request(enterprise)  # waits in its queue while the service is down
    buyback.start()
    buyback.wait_for_event("claim_review_requested", claim_id=claim)
    buyback.stop()
    buyback.resolve(claim, enterprise, "legal")
    buyback.resolve(claim, enterprise, "finance")
    buyback.start()
    buyback.wait_for_event("settlement_requested", claim_id=claim)
    buyback.stop()
    clock.advance(hours=25)
    buyback.start()
    buyback.scan()  # the deadline passed while it was down: resent once
    buyback.wait_for_event("settlement_requested", count=2, claim_id=claim)
    buyback.stop()
    buyback.compute(claim, enterprise, 2 * PRICE, 2 * PRICE)
    buyback.start()
    buyback.wait_for_event("claim_settled", claim_id=claim)
    buyback.stop()
    buyback.release(claim, enterprise)
    buyback.start()
    wait_for(lambda: "units_released" in steps_of(buyback, claim), message="the release")
    buyback.stop()
    buyback.netted(claim, enterprise)
    buyback.start()
    buyback.wait_for_event("claim_closed", claim_id=claim)
    for type_ in ("claim_filed", "claim_approved", "claim_settled", "claim_closed"):
        assert len(buyback.events_where(type_, claim_id=claim)) == 1, type_


def test_the_exposure_report_by_year_and_building(buyback):
    buyback.start()
    buyback.enterprise(started_on=date(2020, 3, 1), units=("B07-2F-03", "B07-2F-04"))
    buyback.enterprise(started_on=date(2024, 2, 29), units=("B09-1F-01",))
    report = buyback.rpc("exposure_report", "2026-11-27")
    assert report["total_fen"] == 3 * PRICE
    assert report["by_year_of_expiry"] == [
        {"year": 2030, "total_fen": 2 * PRICE, "units": 2},
        {"year": 2034, "total_fen": PRICE, "units": 1},
    ]
    assert [b["building"] for b in report["by_building"]] == ["B07", "B09"]
    assert buyback.rpc("exposure_report")["as_of"] == "2026-11-27"  # the clock's park date
    assert buyback.rpc("health")["service"] == "buyback"


@pytest.mark.parametrize("buyback", ["sqlite"], indirect=True)
def test_on_sqlite_too_a_claim_runs_to_closed_and_its_deadlines_fire(buyback, clock):
    buyback.start()
    enterprise, claim = approved(buyback)
    clock.advance(hours=24)
    buyback.scan()
    buyback.wait_for_event("settlement_requested", count=2, claim_id=claim)
    buyback.compute(claim, enterprise, 2 * PRICE, 2 * PRICE)
    buyback.wait_for_event("claim_settled", claim_id=claim)
    buyback.release(claim, enterprise)
    buyback.netted(claim, enterprise)
    buyback.wait_for_event("claim_closed", claim_id=claim)
    assert buyback.rpc("exposure_report", "2026-11-27")["total_fen"] == 0


def test_a_malformed_request_is_dead_lettered_at_once_naming_the_field(buyback):
    buyback.start()
    envelope = {
        "event_id": str(uuid.uuid4()),
        "type": "buyback_requested",
        "source": "portal",
        "version": 1,
        "occurred_at": "2026-11-27T02:00:00Z",
        "correlation_id": str(uuid.uuid4()),
        "causation_id": None,
        "park_id": "aux-shangjie",
        "payload": {"claim_id": "not-a-uuid", "enterprise_id": "e", "reason": "r", "evidence": []},
    }
    buyback.publishers["portal"].publish_raw(
        "portal.events", "buyback_requested", json.dumps(envelope).encode()
    )
    [letter] = wait_for(buyback.dead_letters, message="the dead letter")
    assert "payload.claim_id: Not a UUID." in str(letter.headers["park-error"])
    assert buyback.rpc("list_claims") == []
