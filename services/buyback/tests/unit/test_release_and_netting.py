"""A settled claim closes only when onboarding released its units and billing booked the
settlement (``buyback_netted``), in either order; a refused release or a missed deadline
makes it stuck and escalated at once; a netting with other figures is escalated; a stale
release never drops a unit held under a newer contract."""

from datetime import date, timedelta

import pytest

from services.buyback import handlers
from services.buyback.tests.unit.fakes import NOW, FakeUnitOfWork
from services.buyback.tests.unit.test_handlers import (
    CLAIM,
    PARK,
    approve,
    computed,
    known_enterprise,
    release,
    unit,
)
from shared.messaging.errors import PermanentFailure, TransientFailure


@pytest.fixture
def uow():
    return FakeUnitOfWork()


def settled(uow, net_fen=150_000_000):
    approve(uow)
    handlers.record_settlement(computed(net_fen=net_fen), uow, sender="billing")


def netted(uow, net_fen=150_000_000, **figures):
    payload = {
        "claim_id": CLAIM,
        "enterprise_id": "ent-1",
        "gross_fen": 192_000_000,
        "net_fen": net_fen,
        "payout_fen": max(net_fen, 0),
        "still_owed_fen": max(-net_fen, 0),
        "settled_on": date(2026, 11, 27),
    }
    return handlers.record_netting(payload | figures, uow, sender="billing")


def refused(uow, units=("B07-2F-03", "B07-2F-04")):
    payload = {
        "claim_id": CLAIM,
        "enterprise_id": "ent-1",
        "units": list(units),
        "reasons": [
            {
                "code": "units_not_owned",
                "message": "B07-2F-04 (leased, not sold to it)",
                "field": "units",
            }
        ],
    }
    return handlers.refuse_release(payload, uow, sender="onboarding")


def state(uow):
    return uow.store.claims[CLAIM]["state"]


def test_the_release_alone_does_not_close_the_claim_the_netting_then_does(uow):
    settled(uow)
    release(uow)
    assert state(uow) == "awaiting_release" and uow.events("claim_closed") == []
    netted(uow)
    assert state(uow) == "closed" and len(uow.events("claim_closed")) == 1


def test_the_netting_first_then_the_release_closes_the_claim_once(uow):
    settled(uow)
    netted(uow)
    assert state(uow) == "awaiting_release"
    release(uow)
    assert not netted(uow)  # the same netting again: no effect
    assert state(uow) == "closed" and len(uow.events("claim_closed")) == 1


def test_a_netting_before_the_settlement_is_dead_lettered(uow):
    approve(uow)
    with pytest.raises(PermanentFailure, match="netting_before_settlement"):
        netted(uow)


def test_a_second_netting_with_other_figures_is_dead_lettered(uow):
    settled(uow)
    netted(uow)
    with pytest.raises(PermanentFailure, match="netting_conflict"):
        netted(uow, net_fen=140_000_000)


def test_a_netting_for_a_claim_not_known_yet_is_retried(uow):
    with pytest.raises(TransientFailure):
        netted(uow)


def test_a_netting_whose_payout_differs_from_the_recorded_one_is_escalated(uow):
    settled(uow)
    netted(uow, net_fen=140_000_000)  # billing booked 10,000,000 fen less
    [escalated] = uow.events("claim_escalated")
    assert escalated["payload"]["stage"] == "netting_mismatch"
    assert "payout_fen 140000000" in escalated["payload"]["reason"]
    assert "payout_fen 150000000" in escalated["payload"]["reason"]
    release(uow)
    assert state(uow) == "closed"  # closed, escalated: visible to an operator
    assert uow.store.claims[CLAIM]["escalated"] == ["netting_mismatch"]


def test_the_same_figures_are_not_escalated(uow):
    settled(uow, net_fen=-5_000_000)
    netted(uow, net_fen=-5_000_000)
    assert uow.events("claim_escalated") == []


def test_no_netting_within_its_deadline_makes_the_claim_stuck_and_escalated(uow):
    settled(uow)
    release(uow)
    uow.now = NOW + timedelta(hours=23, minutes=59)
    handlers.scan_deadlines(uow)
    assert state(uow) == "awaiting_release"
    uow.now = NOW + timedelta(hours=24)
    handlers.scan_deadlines(uow)
    assert state(uow) == "stuck"
    [escalated] = uow.events("claim_escalated")
    assert escalated["payload"]["stage"] == "netting"
    assert uow.store.claims[CLAIM]["next_due_at"] is None
    netted(uow)  # billing was down; it books late
    assert state(uow) == "closed"
    steps = [s["step"] for s in handlers.claim_history(CLAIM, uow)["steps"]]
    assert steps[-3:] == ["settlement_netted", "closed_after_stuck", "claim_closed"]


def test_the_release_deadline_still_applies_after_the_netting(uow):
    settled(uow)
    netted(uow)
    uow.now = NOW + timedelta(days=30)
    handlers.scan_deadlines(uow)
    assert state(uow) == "stuck"
    assert [e["payload"]["stage"] for e in uow.events("claim_escalated")] == ["release"]


def test_a_refused_release_makes_the_claim_stuck_and_escalated_at_once(uow):
    settled(uow)
    assert refused(uow)
    assert state(uow) == "stuck"
    [escalated] = uow.events("claim_escalated")
    assert escalated["payload"]["stage"] == "release_refused"
    assert "B07-2F-04 (leased, not sold to it)" in escalated["payload"]["reason"]
    assert not refused(uow)  # the same refusal again: no effect
    assert len(uow.events("claim_escalated")) == 1
    history = handlers.claim_history(CLAIM, uow)
    assert history["claim"]["release_refusal"]["units"] == ["B07-2F-03", "B07-2F-04"]
    assert history["steps"][-1]["sender"] == "onboarding"


def test_a_refused_release_before_settlement_is_dead_lettered(uow):
    approve(uow)
    with pytest.raises(PermanentFailure, match="release_before_settlement"):
        refused(uow)


def test_a_claim_stuck_by_a_refusal_closes_when_the_units_are_released_after_all(uow):
    settled(uow)
    netted(uow)
    refused(uow)
    release(uow)  # an operator sorted the inventory out; onboarding released
    assert state(uow) == "closed"


# -- a release names its contract ---------------------------------------------------------


def lease_then_purchase(uow):
    """ent-1 leased B02-1F-01 (contract ct-lease), the lease ended, then it bought the
    same unit (ct-buy): the projection holds the purchase."""
    known_enterprise(uow, units=[unit("B07-2F-03")])
    bought = unit("B02-1F-01") | {"contract_id": "ct-buy"}
    handlers.allocate_units({"enterprise_id": "ent-1", "units": [bought]}, PARK, uow)


def lease_ended(uow, contract_id):
    payload = {
        "units": ["B02-1F-01"],
        "reason": "lease_ended",
        "application_id": "a",
        "enterprise_id": "ent-1",
        "claim_id": None,
        "contract_id": contract_id,
    }
    return handlers.release_units(payload, uow, sender="onboarding")


def held(uow):
    return {u["unit_id"]: u["contract_id"] for u in uow.store.holdings["ent-1"]["units"]}


def test_a_stale_release_of_an_older_contract_keeps_the_unit_bought_since(uow):
    lease_then_purchase(uow)
    assert not lease_ended(uow, "ct-lease")
    assert held(uow)["B02-1F-01"] == "ct-buy"
    assert handlers.exposure(PARK, None, uow)["total_fen"] == 2 * 96_000_000


def test_a_release_of_the_units_contract_drops_it(uow):
    lease_then_purchase(uow)
    assert lease_ended(uow, "ct-buy")
    assert "B02-1F-01" not in held(uow)


def test_a_release_without_a_contract_drops_the_unit_as_before(uow):
    lease_then_purchase(uow)
    assert lease_ended(uow, None)
    assert "B02-1F-01" not in held(uow)
