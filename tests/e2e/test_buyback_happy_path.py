"""The ten-year buyback from request to units back in inventory, with all four services
running on the real broker and PostgreSQL.

The enterprise bought two 300 m² rooms on 2 November 2026 at the demo park's 3,200 CNY/m²
(96,000,000 fen each), paid the 30 % down payment and nothing else; it started production
on 10 November; the cycle of 1 December billed November's and December's property fees
(two invoices it has not paid). On 1 January 2027 — before January's cycle — it asks the
park to buy the rooms back (in the other tests: on 10 December, mid-month, instead).
"""

from datetime import date

import pytest

from tests.e2e.conftest import PARK, Enterprise, ParkWorld
from tests.e2e.flows import (
    COMPLETED_CLAIM,
    answer_past_the_grace,
    approve_both_reviews,
    claim_answer,
    pay_down_payment,
)
from tests.support.broker import wait_for

pytestmark = pytest.mark.slow

ROOMS = ["B09-2F-01", "B09-2F-02"]
PRICE_FEN = 300 * 320_000  # 300 m² at 3,200 CNY/m²


def two_rooms_bought_with_fees_unpaid(
    world: ParkWorld, claim_day: date
) -> tuple[Enterprise, list[dict]]:
    """The enterprise of the module docstring, on ``claim_day``; its two unpaid
    property-fee invoices."""
    buyer = world.admit(ROOMS)
    assert buyer.purchase_price_fen == 2 * PRICE_FEN  # as onboarding recorded the sale
    pay_down_payment(world, buyer)
    world.clock.park_day(2026, 11, 10)
    world.start_production(buyer, date(2026, 11, 10))
    world.clock.park_day(2026, 12, 1)
    world.rpc("billing", "run_billing_cycle", "2026-12-01")
    fee_invoices = [
        e["payload"]
        for e in world.wait_for("billing", "invoice_issued", 3, enterprise_id=buyer.enterprise_id)
        if e["payload"]["issued_on"] == "2026-12-01"
    ]
    assert len(fee_invoices) == 2  # November's (29 of 30 days) and December's, unpaid
    world.clock.park_day(claim_day.year, claim_day.month, claim_day.day)
    return buyer, fee_invoices


def test_a_claim_runs_from_request_to_units_in_inventory_and_stops_the_invoices(park_world):
    world = park_world
    world.start()
    firms = world.add_review_firms()
    buyer, fee_invoices = two_rooms_bought_with_fees_unpaid(world, date(2027, 1, 1))
    claim_id = world.request_buyback(buyer)

    # Eligible: filed with the units at their recorded prices.
    filed = claim_answer(world, claim_id)
    assert filed["type"] == "claim_filed", filed["payload"]
    assert filed["payload"]["gross_fen"] == 2 * PRICE_FEN
    # The reviews reach the firms through ticketing; both approve.
    approve_both_reviews(world, firms, claim_id)
    world.wait_for("buyback", "claim_approved", claim_id=claim_id)

    # The settlement asked of billing: the prices onboarding recorded at the sale.
    [requested] = world.wait_for("buyback", "settlement_requested", claim_id=claim_id)
    assert sorted(requested["payload"]["units"], key=lambda u: u["unit_id"]) == [
        {"unit_id": unit_id, "price_fen": PRICE_FEN} for unit_id in ROOMS
    ]
    assert requested["payload"]["gross_fen"] == 2 * PRICE_FEN

    # Billing nets what is still owed: the six instalments of each room not invoiced yet
    # (2 × 67,200,000), the two unpaid property-fee invoices, and their late fees (due
    # 16 December: 16 days at 0.05 % a day on 1 January).
    [computed] = world.wait_for("billing", "buyback_settlement_computed", claim_id=claim_id)
    offsets = computed["payload"]["offsets"]
    assert computed["payload"]["gross_fen"] == 2 * PRICE_FEN
    assert sorted((o["kind"], o["invoice_id"] or "", o["amount_fen"]) for o in offsets) == sorted(
        [("purchase_balance", "", 2 * 67_200_000)]
        + [("invoice", i["invoice_id"], i["total_fen"]) for i in fee_invoices]
        + [("late_fee", i["invoice_id"], i["total_fen"] * 5 * 16 // 10_000) for i in fee_invoices]
    )
    net = 2 * PRICE_FEN - sum(o["amount_fen"] for o in offsets)
    assert computed["payload"]["net_fen"] == net

    # The claim records the payout and settles on the park date.
    [settled] = world.wait_for("buyback", "claim_settled", claim_id=claim_id)
    assert settled["payload"]["gross_fen"] == 2 * PRICE_FEN
    assert settled["payload"]["net_fen"] == net
    assert settled["payload"]["settled_on"] == "2027-01-01"
    assert sorted(settled["payload"]["units"]) == ROOMS

    # Onboarding takes the rooms back for this claim; they are for sale again.
    [released] = world.wait_for("onboarding", "units_released", claim_id=claim_id)
    assert released["payload"]["reason"] == "buyback_settled"
    assert sorted(released["payload"]["units"]) == ROOMS
    assert world.unit_statuses(buyer) == {unit_id: ("available", None) for unit_id in ROOMS}
    world.wait_for("buyback", "claim_closed", claim_id=claim_id)
    assert world.claim_events(claim_id) == COMPLETED_CLAIM
    # Billing books the payout the claim recorded.
    [netted] = world.wait_for("billing", "buyback_netted", claim_id=claim_id)
    assert (netted["payload"]["payout_fen"], netted["payload"]["still_owed_fen"]) == (net, 0)
    # Bought back, the rooms are no longer the park's exposure, nor the enterprise's to
    # claim again.
    assert world.rpc("buyback", "exposure_report", PARK, "2027-01-01")["total_fen"] == 0
    again = world.request_buyback(buyer)
    answer = answer_past_the_grace(world, again)  # a new purchase could be in flight
    assert answer["type"] == "claim_ineligible"
    assert [r["code"] for r in answer["payload"]["reasons"]] == ["no_purchased_units"]

    # The invoice stream stopped on settled_on: January's cycle — which would bill each
    # room's first instalment and its property fee — and February's bill them nothing.
    for day in ("2027-01-01", "2027-02-01"):
        world.clock.park_day(*map(int, day.split("-")))
        cycle = world.rpc("billing", "run_billing_cycle", day)
        assert cycle["issued"] == [] and cycle["failed"] == [], cycle
    wait_for(lambda: world.unsent("billing") == 0, message="billing's outbox sent")
    # (The settlement itself invoiced the late fees accrued until then, netted at once.)
    later = [
        line
        for e in world.events_where("billing", "invoice_issued", enterprise_id=buyer.enterprise_id)
        if e["payload"]["issued_on"] > "2026-12-01"
        for line in e["payload"]["lines"]
        if line["category"] != "late_fee"
    ]
    assert later == []
    assert world.rpc("billing", "trial_balance")["total_fen"] == 0

    # The claim's history shows every step, in order: each event published about the
    # claim is there under its own event id.
    history = world.rpc("buyback", "claim_history", claim_id)
    assert history["claim"]["state"] == "closed"
    published = [
        (e["type"], e["event_id"]) for e in world.events_where("buyback", claim_id=claim_id)
    ]
    recorded = [(s["step"], s["event_id"]) for s in history["steps"] if s["event_id"] is not None]
    assert recorded == published
    assert world.dead_letters() == {
        s: [] for s in ("onboarding", "ticketing", "billing", "buyback")
    }


def test_a_settlement_mid_month_stops_the_fees_from_settled_on(park_world):
    """Settled on 10 December: December's fee, billed in advance, is credited from the
    10th, and January's cycle bills the rooms nothing."""
    world = park_world
    world.start()
    firms = world.add_review_firms()
    buyer, _ = two_rooms_bought_with_fees_unpaid(world, date(2026, 12, 10))
    claim_id = world.request_buyback(buyer)
    approve_both_reviews(world, firms, claim_id)

    [settled] = world.wait_for("buyback", "claim_settled", claim_id=claim_id)
    assert settled["payload"]["settled_on"] == "2026-12-10"
    world.wait_for("onboarding", "units_released", claim_id=claim_id)
    world.wait_for("billing", "buyback_netted", claim_id=claim_id)
    credited = world.wait_for("billing", "credit_note_issued", 2, enterprise_id=buyer.enterprise_id)
    assert {(c["payload"]["reason"], c["payload"]["amount_fen"]) for c in credited} == {
        # 45,000 less the 9 of 31 days held (13,065)
        (f"unit {unit_id} not held from 2026-12-10", 31_935)
        for unit_id in ROOMS
    }
    world.clock.park_day(2027, 1, 1)
    cycle = world.rpc("billing", "run_billing_cycle", "2027-01-01")
    assert cycle["issued"] == [] and cycle["failed"] == [], cycle
    assert world.rpc("billing", "trial_balance")["total_fen"] == 0


def test_the_payout_the_claim_records_is_the_payout_billing_books(park_world):
    """Settled mid-month, billing's netting counts December's fee only for the days held
    (the release credits the rest): 192,000,000 − 134,400,000 of instalments − (87,000 +
    90,000 − 2 × 31,935) = 57,486,870 computed, recorded by the claim and booked by
    billing alike, and the claim closes without a netting_mismatch."""
    world = park_world
    world.start()
    firms = world.add_review_firms()
    buyer, _ = two_rooms_bought_with_fees_unpaid(world, date(2026, 12, 10))
    claim_id = world.request_buyback(buyer)
    approve_both_reviews(world, firms, claim_id)

    [settled] = world.wait_for("buyback", "claim_settled", claim_id=claim_id)
    [netted] = world.wait_for("billing", "buyback_netted", claim_id=claim_id)

    assert netted["payload"]["settled_on"] == settled["payload"]["settled_on"]
    assert netted["payload"]["payout_fen"] == settled["payload"]["net_fen"] == 57_486_870
    world.wait_for("buyback", "claim_closed", claim_id=claim_id)
    assert world.claim_events(claim_id) == COMPLETED_CLAIM  # nothing escalated


def test_a_release_days_after_the_settlement_does_not_move_the_stop(park_world):
    """Onboarding (stopped) releases the rooms on 15 December, five days after the
    settlement of 10 December: billing's stop stays settled_on — the two credits of 10
    December, nothing credited or billed again for the days between."""
    world = park_world
    world.start()
    firms = world.add_review_firms()
    buyer, _ = two_rooms_bought_with_fees_unpaid(world, date(2026, 12, 10))
    world.stop("onboarding")
    claim_id = world.request_buyback(buyer)
    approve_both_reviews(world, firms, claim_id)
    world.wait_for("billing", "buyback_netted", claim_id=claim_id)
    world.wait_for("billing", "credit_note_issued", 2, enterprise_id=buyer.enterprise_id)

    world.clock.park_day(2026, 12, 15)
    world.restart("onboarding")
    [released] = world.wait_for("onboarding", "units_released", claim_id=claim_id)
    wait_for(
        lambda: world.applied("billing", released["event_id"]),
        timeout=30,
        message="billing to take the late release",
    )
    wait_for(lambda: world.unsent("billing") == 0, message="billing's outbox sent")

    credits = world.events_where("billing", "credit_note_issued", enterprise_id=buyer.enterprise_id)
    assert sorted((c["payload"]["reason"], c["payload"]["amount_fen"]) for c in credits) == [
        (f"unit {unit_id} not held from 2026-12-10", 31_935) for unit_id in ROOMS
    ]
    world.clock.park_day(2027, 1, 1)
    cycle = world.rpc("billing", "run_billing_cycle", "2027-01-01")
    assert cycle["issued"] == [] and cycle["failed"] == [], cycle
    assert world.rpc("billing", "trial_balance")["total_fen"] == 0
