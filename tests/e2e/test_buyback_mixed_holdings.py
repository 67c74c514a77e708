"""An enterprise that bought one room and leases another (two applications under one
USCC, one enterprise) asks for the buyback, with the four services running: the claim
takes the bought room only, onboarding returns only that one, and billing stops only
its charges — the lease runs on, billed as before. And a room bought back and sold again
is its new buyer's to claim, no longer its first buyer's."""

from datetime import date

import pytest

from tests.e2e.conftest import PARK
from tests.e2e.flows import (
    answer_past_the_grace,
    approve_both_reviews,
    claim_answer,
    filed_claim,
    producing_enterprise,
)

pytestmark = pytest.mark.slow

BOUGHT, LEASED = "B13-1F-01", "B13-1F-02"


def test_a_buyback_takes_the_bought_room_and_leaves_the_lease_running(park_world):
    world = park_world
    world.start()
    firms = world.add_review_firms()
    seed = 31_415_926
    bought = world.admit([BOUGHT], seed=seed)
    world.wait_for("billing", "invoice_issued", enterprise_id=bought.enterprise_id)
    leased = world.admit([LEASED], tenure="lease", seed=seed)
    assert leased.enterprise_id == bought.enterprise_id  # one enterprise, two contracts
    world.clock.park_day(2026, 11, 10)
    world.start_production(bought, date(2026, 11, 10))
    world.clock.park_day(2026, 12, 10)

    claim_id = world.request_buyback(bought)

    filed = claim_answer(world, claim_id)
    assert filed["type"] == "claim_filed", filed["payload"]
    assert filed["payload"]["units"] == [{"unit_id": BOUGHT, "price_fen": 96_000_000}]
    approve_both_reviews(world, firms, claim_id)
    [settled] = world.wait_for("buyback", "claim_settled", claim_id=claim_id)
    assert settled["payload"]["units"] == [BOUGHT]
    [released] = world.wait_for("onboarding", "units_released", claim_id=claim_id)
    assert released["payload"]["units"] == [BOUGHT]
    world.wait_for("buyback", "claim_closed", claim_id=claim_id)
    world.wait_for("billing", "buyback_netted", claim_id=claim_id)
    statuses = {
        unit["unit_id"]: (unit["status"], unit["holder"])
        for unit in world.rpc("onboarding", "query_units", "aux-shangjie", building="B13")["units"]
        if unit["unit_id"] in (BOUGHT, LEASED)
    }
    assert statuses == {BOUGHT: ("available", None), LEASED: ("leased", bought.enterprise_id)}

    world.clock.park_day(2027, 1, 1)
    cycle = world.rpc("billing", "run_billing_cycle", "2027-01-01")
    issued = world.wait_for(
        "billing", "invoice_issued", len(cycle["issued"]), issued_on="2027-01-01"
    )
    january = [line["description"] for e in issued for line in e["payload"]["lines"]]
    assert f"unit {LEASED} rent 2027-01" in january
    assert f"unit {LEASED} property fee 2027-01" in january
    assert not [line for line in january if BOUGHT in line], january


def test_rooms_bought_back_and_sold_again_are_the_new_buyers_to_claim(park_world):
    world = park_world
    world.start()
    firms = world.add_review_firms()
    first = producing_enterprise(world, [BOUGHT], date(2026, 11, 3))
    world.clock.park_day(2026, 11, 20)
    claim_id = filed_claim(world, first)
    approve_both_reviews(world, firms, claim_id)
    world.wait_for("buyback", "claim_closed", claim_id=claim_id)

    second = producing_enterprise(world, [BOUGHT], date(2026, 12, 2))
    assert second.enterprise_id != first.enterprise_id
    world.clock.park_day(2026, 12, 20)
    exposure = world.rpc("buyback", "exposure_report", PARK, "2026-12-20")
    assert (exposure["total_fen"], exposure["units"]) == (96_000_000, 1)

    answer = answer_past_the_grace(world, world.request_buyback(first))
    assert [r["code"] for r in answer["payload"]["reasons"]] == ["no_purchased_units"]
    again = filed_claim(world, second)
    [filed] = world.wait_for("buyback", "claim_filed", claim_id=again)
    assert filed["payload"]["units"] == [{"unit_id": BOUGHT, "price_fen": 96_000_000}]
    assert filed["payload"]["window_ends_on"] == "2036-12-01"
