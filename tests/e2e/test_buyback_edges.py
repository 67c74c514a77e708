"""The buyback's harder endings with the four services running: a negative net (the
enterprise owed more than it had paid) still completes the buyback; a review that
stalls past the park's deadline is escalated; billing down for two days gets the
settlement asked again, then escalated, and the claim completes once billing is back (a
lost answer is given again when asked again); a release onboarding refuses, or one that
does not come within the park's deadline, leaves the claim visibly ``stuck`` and
escalated — never silently done.

The deadline timer runs every 30 s; the tests move the world's clock past a deadline and
then run one pass of it themselves (its entrypoint, through the container), rather than
wait for the next tick.
"""

import json
from datetime import date

import pytest

from tests.e2e.conftest import PARK, ParkWorld
from tests.e2e.flows import (
    COMPLETED_CLAIM,
    approve_both_reviews,
    filed_claim,
    onboarding_story,
    one_of_each,
    producing_enterprise,
)
from tests.support.broker import get_messages, wait_for

pytestmark = pytest.mark.slow


def escalations(world: ParkWorld, claim_id: str) -> list[dict]:
    return [
        e["payload"] for e in world.events_where("buyback", "claim_escalated", claim_id=claim_id)
    ]


def test_a_negative_net_still_completes_the_buyback(park_world):
    """Nothing paid: the down payment (57,600,000), both property-fee invoices and the
    late fees are owed, and the instalments not invoiced (134,400,000) cancel — more than
    the gross of 192,000,000."""
    world = park_world
    world.start()
    firms = world.add_review_firms()
    buyer = world.admit(["B12-1F-01", "B12-1F-02"])
    # Billing invoices the down payment on allocation: let it, before the clock moves on.
    [down_payment] = world.wait_for("billing", "invoice_issued", enterprise_id=buyer.enterprise_id)
    world.clock.park_day(2026, 11, 10)
    world.start_production(buyer, date(2026, 11, 10))
    world.clock.park_day(2026, 12, 1)
    world.rpc("billing", "run_billing_cycle", "2026-12-01")
    world.wait_for("billing", "invoice_issued", 3, enterprise_id=buyer.enterprise_id)
    world.clock.park_day(2027, 1, 1)  # before January's cycle: nothing billed past it

    claim_id = filed_claim(world, buyer)
    approve_both_reviews(world, firms, claim_id)

    [computed] = world.wait_for("billing", "buyback_settlement_computed", claim_id=claim_id)
    offsets = computed["payload"]["offsets"]
    # Nothing of the price was paid: all of it is purchase balance — the instalments not
    # invoiced, and the down payment on its invoice.
    assert sorted(
        (o["invoice_id"] or "", o["amount_fen"]) for o in offsets if o["kind"] == "purchase_balance"
    ) == sorted([("", 2 * 67_200_000), (down_payment["payload"]["invoice_id"], 57_600_000)])
    net = computed["payload"]["net_fen"]
    assert net == buyer.purchase_price_fen - sum(o["amount_fen"] for o in offsets)
    assert net < 0
    [settled] = world.wait_for("buyback", "claim_settled", claim_id=claim_id)
    assert settled["payload"]["net_fen"] == computed["payload"]["net_fen"]
    world.wait_for("buyback", "claim_closed", claim_id=claim_id)
    assert world.claim_events(claim_id) == COMPLETED_CLAIM
    assert world.unit_statuses(buyer) == {u: ("available", None) for u in buyer.unit_ids}
    [netted] = world.wait_for("billing", "buyback_netted", claim_id=claim_id)
    assert netted["payload"]["payout_fen"] == 0  # the park pays nothing
    assert netted["payload"]["still_owed_fen"] == -net  # and keeps the rest receivable
    assert world.rpc("billing", "trial_balance")["total_fen"] == 0


def test_a_review_stalled_past_the_parks_deadline_is_escalated_once(park_world):
    world = park_world
    world.start()
    firms = world.add_review_firms()
    buyer = producing_enterprise(world, ["B12-2F-01"], date(2026, 11, 3))
    world.clock.park_day(2026, 11, 20)  # a Friday
    claim_id = filed_claim(world, buyer)
    tickets = world.review_tickets(claim_id)
    firms["legal"].report(
        "work_completed", tickets["legal"], outcome="approve", reasons=[], note="同意"
    )
    world.wait_for("ticketing", "ticket_resolved", claim_id=claim_id, review="legal")

    world.clock.park_day(2026, 12, 3)  # 9 business days on: not yet
    world.rpc("buyback", "scan_deadlines")
    assert escalations(world, claim_id) == []
    world.clock.park_day(2026, 12, 7)  # past 10 business days (the aux-shangjie file's)
    world.rpc("buyback", "scan_deadlines")

    [escalated] = wait_for(lambda: escalations(world, claim_id), message="claim_escalated")
    assert escalated["stage"] == "review"
    assert "finance" in escalated["reason"] and "legal" not in escalated["reason"]
    world.clock.park_day(2026, 12, 8)
    world.rpc("buyback", "scan_deadlines")  # a later pass escalates it no further
    history = world.rpc("buyback", "claim_history", claim_id)
    assert [s["step"] for s in history["steps"]].count("claim_escalated") == 1
    # Escalated, not ended: the finance review can still decide it.
    assert history["claim"]["state"] == "under_review"


def test_a_release_onboarding_refuses_leaves_the_claim_stuck_and_escalated(park_world):
    """The buyback's projection holds a unit onboarding never sold to the enterprise
    (onboarding's events for it sent as onboarding's broker user): onboarding refuses the
    settlement's release (``release_refused``), and the claim is stuck at once."""
    world = park_world
    world.start()
    firms = world.add_review_firms()
    world.clock.park_day(2026, 11, 20)
    enterprise, story = onboarding_story({"B16-4F-06": 96_000_000}, "2026-11-20")
    for type_, payload in story:
        world.publish("onboarding", type_, payload)
    wait_for(
        lambda: (
            world.rpc("buyback", "exposure_report", PARK, "2026-11-20")["total_fen"] == 96_000_000
        ),
        timeout=30,
        message="the enterprise in the buyback's projection",
    )
    claim_id = filed_claim(world, enterprise)
    approve_both_reviews(world, firms, claim_id)
    world.wait_for("buyback", "claim_settled", claim_id=claim_id)

    [refused] = world.wait_for("onboarding", "release_refused", claim_id=claim_id)
    assert refused["payload"]["units"] == ["B16-4F-06"]
    [escalated] = wait_for(lambda: escalations(world, claim_id), message="claim_escalated")
    assert escalated["stage"] == "release_refused"
    assert "claim_closed" not in world.claim_events(claim_id)
    stuck = world.rpc("buyback", "list_claims", "stuck")
    assert [c["claim_id"] for c in stuck] == [claim_id]
    assert world.dead_letters()["onboarding"] == []


def test_onboarding_down_past_the_release_deadline_leaves_the_claim_stuck_until_it_releases(
    park_world,
):
    """No release within the park's 5 business days (onboarding stopped): the claim is
    stuck and escalated, never silently done; once onboarding is back and releases the
    units, the claim closes."""
    world = park_world
    world.start()
    firms = world.add_review_firms()
    buyer = producing_enterprise(world, ["B16-3F-01"], date(2026, 11, 3))
    world.clock.park_day(2026, 11, 20)  # a Friday
    claim_id = filed_claim(world, buyer)
    world.stop("onboarding")
    approve_both_reviews(world, firms, claim_id)
    world.wait_for("buyback", "claim_settled", claim_id=claim_id)
    world.wait_for("billing", "buyback_netted", claim_id=claim_id)

    world.clock.park_day(2026, 11, 26)  # 4 business days after the settlement: not yet
    world.rpc("buyback", "scan_deadlines")
    assert escalations(world, claim_id) == []
    world.clock.park_day(2026, 11, 30)  # past 5 business days
    world.rpc("buyback", "scan_deadlines")

    [escalated] = wait_for(lambda: escalations(world, claim_id), message="claim_escalated")
    assert escalated["stage"] == "release"
    assert "B16-3F-01" in escalated["reason"]
    assert [c["claim_id"] for c in world.rpc("buyback", "list_claims", "stuck")] == [claim_id]
    assert "claim_closed" not in world.claim_events(claim_id)

    world.restart("onboarding")

    world.wait_for("onboarding", "units_released", claim_id=claim_id)
    world.wait_for("buyback", "claim_closed", claim_id=claim_id)
    assert world.rpc("buyback", "claim_history", claim_id)["claim"]["state"] == "closed"


def test_billing_down_for_two_days_the_settlement_is_asked_again_escalated_then_completed(
    park_world,
):
    world = park_world
    world.start()
    firms = world.add_review_firms()
    buyer = producing_enterprise(world, ["B12-3F-01"], date(2026, 11, 3))
    world.wait_for("billing", "invoice_issued", enterprise_id=buyer.enterprise_id)
    world.clock.park_day(2026, 11, 20)
    claim_id = filed_claim(world, buyer)
    world.stop("billing")

    approve_both_reviews(world, firms, claim_id)
    world.wait_for("buyback", "settlement_requested", claim_id=claim_id)
    world.clock.advance(hours=23)  # within the aux-shangjie file's 24 hours
    world.rpc("buyback", "scan_deadlines")
    world.clock.advance(hours=2)
    world.rpc("buyback", "scan_deadlines")
    world.wait_for("buyback", "settlement_requested", 2, claim_id=claim_id)
    world.clock.advance(hours=25)
    world.rpc("buyback", "scan_deadlines")
    [escalated] = wait_for(lambda: escalations(world, claim_id), message="claim_escalated")
    assert escalated["stage"] == "settlement"

    world.restart("billing")

    world.wait_for("buyback", "claim_closed", claim_id=claim_id)
    assert one_of_each(world, "buyback", claim_id) == {
        "claim_filed": 1,
        "claim_review_requested": 1,
        "claim_approved": 1,
        "settlement_requested": 2,
        "claim_escalated": 1,
        "claim_settled": 1,
        "claim_closed": 1,
    }
    # Billing answers each request (the second with the stored figures): the same
    # settlement, settled once.
    answers = world.events_where("billing", "buyback_settlement_computed", claim_id=claim_id)
    assert 1 <= len(answers) <= 2
    assert len({json.dumps(a["payload"], sort_keys=True) for a in answers}) == 1
    [settled] = world.wait_for("buyback", "claim_settled", claim_id=claim_id)
    assert settled["payload"]["settled_on"] == "2026-11-22"


def test_a_settlement_answer_lost_on_the_way_is_given_again_when_asked_again(park_world):
    """Billing's buyback_settlement_computed never reaches the buyback service (taken off
    its queue while the service is stopped: an operator's purge, a dead letter dropped):
    the settlement is asked again after 24 hours, and billing answers again with the same
    figures, so the claim settles instead of waiting for an answer that never comes."""
    world = park_world
    world.start()
    firms = world.add_review_firms()
    buyer = producing_enterprise(world, ["B12-4F-01"], date(2026, 11, 3))
    world.wait_for("billing", "invoice_issued", enterprise_id=buyer.enterprise_id)
    world.clock.park_day(2026, 11, 20)
    claim_id = filed_claim(world, buyer)
    world.stop("billing")
    approve_both_reviews(world, firms, claim_id)
    world.wait_for("buyback", "settlement_requested", claim_id=claim_id)
    world.stop("buyback")
    world.restart("billing")
    [computed] = world.wait_for("billing", "buyback_settlement_computed", claim_id=claim_id)
    wait_for(lambda: world.unsent("billing") == 0, message="billing's answer published")
    lost = get_messages(world.amqp_uri, "buyback.billing.buyback_settlement_computed")
    assert [json.loads(m.body)["event_id"] for m in lost] == [computed["event_id"]]
    world.restart("buyback")

    world.clock.advance(hours=25)
    world.rpc("buyback", "scan_deadlines")
    _, again = world.wait_for("buyback", "settlement_requested", 2, claim_id=claim_id)
    world.wait_until_applied("billing", again)

    [settled] = world.wait_for("buyback", "claim_settled", claim_id=claim_id)
    assert settled["payload"]["net_fen"] == computed["payload"]["net_fen"]
