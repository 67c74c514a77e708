"""The use cases on an in-memory unit of work: the projection in any order, claims,
reviews, settlement, release, withdrawal and the deadline timer."""

from datetime import UTC, date, datetime, timedelta

import pytest

from services.buyback import handlers
from services.buyback.exceptions import IllegalTransition, NotFound
from services.buyback.tests.unit.fakes import NOW, FakeUnitOfWork
from shared.messaging.errors import PermanentFailure, TransientFailure

PARK = "aux-shangjie"
CLAIM = "6f1c2a8e-3b4d-4e5f-9a0b-1c2d3e4f5a6b"
OTHER_CLAIM = "0b8a1f2e-9c3d-4e5f-8a0b-7c6d5e4f3a2b"


def unit(unit_id, tenure="purchase", price=96_000_000):
    return {
        "unit_id": unit_id,
        "area_m2": 300,
        "tenure": tenure,
        "price_fen": price if tenure == "purchase" else None,
        "monthly_rent_fen": None if tenure == "purchase" else 450_000,
        "monthly_property_fee_fen": 45_000,
        "contract_id": "ct-1",
    }


def known_enterprise(uow, enterprise_id="ent-1", started_on=date(2020, 3, 1), units=None):
    handlers.admit_enterprise({"enterprise_id": enterprise_id}, PARK, uow)
    handlers.allocate_units(
        {
            "enterprise_id": enterprise_id,
            "units": units or [unit("B07-2F-03"), unit("B07-2F-04"), unit("B02-1F-01", "lease")],
        },
        PARK,
        uow,
    )
    if started_on is not None:
        handlers.start_production(
            {"enterprise_id": enterprise_id, "started_on": started_on}, PARK, uow
        )


def claim_payload(claim_id=CLAIM, enterprise_id="ent-1", **overrides):
    return {
        "claim_id": claim_id,
        "enterprise_id": enterprise_id,
        "reason": "订单骤减",
        "evidence": ["财报.pdf"],
        **overrides,
    }


def resolved(review, outcome="approve", reasons=(), claim_id=CLAIM, enterprise_id="ent-1"):
    return {
        "ticket_id": f"t-{review}",
        "enterprise_id": enterprise_id,
        "service_code": "LEGAL-09",
        "origin": "buyback_review",
        "request_id": None,
        "claim_id": claim_id,
        "review": review,
        "firm_id": "law-01",
        "outcome": outcome,
        "reasons": list(reasons),
        "fee_fen": None,
    }


def computed(net_fen=150_000_000, gross_fen=192_000_000, claim_id=CLAIM):
    offsets = (
        [{"kind": "invoice", "invoice_id": None, "amount_fen": gross_fen - net_fen}]
        if gross_fen != net_fen
        else []
    )
    return {
        "claim_id": claim_id,
        "enterprise_id": "ent-1",
        "gross_fen": gross_fen,
        "offsets": offsets,
        "net_fen": net_fen,
    }


@pytest.fixture
def uow():
    return FakeUnitOfWork()


def file_claim(uow):
    known_enterprise(uow)
    return handlers.request_claim(claim_payload(), PARK, uow, occurred_at=NOW)


def test_an_eligible_claim_is_filed_and_its_reviews_requested_with_the_purchased_units(uow):
    file_claim(uow)
    assert uow.types() == ["claim_filed", "claim_review_requested"]
    filed = uow.events("claim_filed")[0]["payload"]
    assert [u["unit_id"] for u in filed["units"]] == ["B07-2F-03", "B07-2F-04"]  # not the lease
    assert filed["gross_fen"] == 192_000_000
    assert filed["window_ends_on"] == "2030-02-28"
    review = uow.events("claim_review_requested")[0]["payload"]
    assert review["reviews"] == ["legal", "finance"] and review["evidence"] == ["财报.pdf"]


def test_the_projection_may_arrive_in_any_order(uow):
    handlers.start_production({"enterprise_id": "ent-1", "started_on": date(2020, 3, 1)}, PARK, uow)
    handlers.allocate_units({"enterprise_id": "ent-1", "units": [unit("B07-2F-03")]}, PARK, uow)
    handlers.admit_enterprise({"enterprise_id": "ent-1"}, PARK, uow)
    handlers.request_claim(claim_payload(), PARK, uow, occurred_at=NOW)
    assert uow.types()[0] == "claim_filed"


def test_the_same_request_again_has_no_effect(uow):
    file_claim(uow)
    handlers.request_claim(claim_payload(), PARK, uow, occurred_at=NOW)
    assert uow.types() == ["claim_filed", "claim_review_requested"]


def test_other_content_under_the_same_claim_id_is_refused_and_the_claim_unchanged(uow):
    file_claim(uow)
    handlers.request_claim(claim_payload(reason="另一个理由"), PARK, uow, occurred_at=NOW)
    [refused] = uow.events("claim_duplicate_refused")
    assert refused["payload"]["reasons"][0]["code"] == "conflicting_duplicate"
    assert uow.store.claims[CLAIM]["reason"] == "订单骤减"


def test_an_unknown_enterprise_is_retried_within_the_grace_then_ineligible(uow):
    with pytest.raises(TransientFailure):
        handlers.request_claim(claim_payload(), PARK, uow, occurred_at=NOW - timedelta(minutes=5))
    assert uow.store.claims == {}
    handlers.request_claim(claim_payload(), PARK, uow, occurred_at=NOW - timedelta(hours=1))
    [ineligible] = uow.events("claim_ineligible")
    assert [r["code"] for r in ineligible["payload"]["reasons"]] == ["unknown_enterprise"]


def test_a_lease_only_enterprise_is_retried_within_the_grace_then_has_no_purchased_units(uow):
    # A purchase may still be in flight on units_allocated's queue: not final yet.
    known_enterprise(uow, units=[unit("B02-1F-01", "lease")])
    with pytest.raises(TransientFailure, match="no_purchased_units"):
        handlers.request_claim(claim_payload(), PARK, uow, occurred_at=NOW)
    assert uow.store.claims == {} and uow.types() == []
    handlers.request_claim(claim_payload(), PARK, uow, occurred_at=NOW - timedelta(hours=1))
    [ineligible] = uow.events("claim_ineligible")
    assert [r["code"] for r in ineligible["payload"]["reasons"]] == ["no_purchased_units"]


def test_units_and_production_start_arriving_within_the_grace_file_the_claim(uow):
    handlers.admit_enterprise({"enterprise_id": "ent-1"}, PARK, uow)
    with pytest.raises(TransientFailure, match="no_purchased_units, production_not_started"):
        handlers.request_claim(claim_payload(), PARK, uow, occurred_at=NOW)
    handlers.allocate_units({"enterprise_id": "ent-1", "units": [unit("B07-2F-03")]}, PARK, uow)
    with pytest.raises(TransientFailure, match="production_not_started"):
        handlers.request_claim(claim_payload(), PARK, uow, occurred_at=NOW)
    handlers.start_production({"enterprise_id": "ent-1", "started_on": date(2020, 3, 1)}, PARK, uow)
    handlers.request_claim(claim_payload(), PARK, uow, occurred_at=NOW)
    assert uow.types() == ["claim_filed", "claim_review_requested"]


def test_a_final_reason_is_answered_at_once_with_every_reason_found(uow):
    # The window ended years ago: no unit in flight can change that.
    known_enterprise(uow, units=[unit("B02-1F-01", "lease")], started_on=date(2010, 5, 1))
    handlers.request_claim(claim_payload(), PARK, uow, occurred_at=NOW)
    [ineligible] = uow.events("claim_ineligible")
    codes = [r["code"] for r in ineligible["payload"]["reasons"]]
    assert codes == ["no_purchased_units", "window_expired"]


def test_the_day_is_the_portals_occurred_at_in_park_time_not_the_late_receipt(uow):
    known_enterprise(uow, started_on=date(2016, 11, 27))
    # Sent at 23:59 on the last day of the window (park time), received after midnight.
    sent = datetime(2026, 11, 26, 15, 59, tzinfo=UTC)
    uow.now = datetime(2026, 11, 26, 16, 30, tzinfo=UTC)
    handlers.request_claim(claim_payload(), PARK, uow, occurred_at=sent)
    assert uow.types()[0] == "claim_filed"


def test_an_occurred_at_in_the_future_counts_as_the_receipt(uow):
    known_enterprise(uow, started_on=date(2016, 11, 27))
    uow.now = datetime(2026, 11, 26, 16, 30, tzinfo=UTC)  # 2026-11-27 00:30 park time
    handlers.request_claim(claim_payload(), PARK, uow, occurred_at=datetime(2030, 1, 1, tzinfo=UTC))
    [ineligible] = uow.events("claim_ineligible")
    assert ineligible["payload"]["reasons"][0]["code"] == "window_expired"


def test_a_second_claim_while_one_is_open_is_ineligible_as_claim_open(uow):
    file_claim(uow)
    handlers.request_claim(claim_payload(OTHER_CLAIM), PARK, uow, occurred_at=NOW)
    [ineligible] = uow.events("claim_ineligible")
    assert ineligible["payload"]["reasons"][0]["code"] == "claim_open"
    assert CLAIM in ineligible["payload"]["reasons"][0]["message"]


def test_a_resolution_for_a_claim_not_known_yet_is_retried(uow):
    with pytest.raises(TransientFailure):
        handlers.resolve_review(resolved("legal"), uow, sender="ticketing")


def test_a_service_tickets_resolution_is_none_of_buybacks_business(uow):
    payload = resolved("legal") | {"claim_id": None, "review": None, "origin": "service_request"}
    assert handlers.resolve_review(payload, uow, sender="ticketing") is False
    assert uow.commits == 0


def test_both_approvals_request_settlement_and_a_duplicate_has_no_effect(uow):
    file_claim(uow)
    handlers.resolve_review(resolved("legal"), uow, sender="ticketing")
    assert not handlers.resolve_review(resolved("legal"), uow, sender="ticketing")
    handlers.resolve_review(resolved("finance"), uow, sender="ticketing")
    assert uow.types()[-2:] == ["claim_approved", "settlement_requested"]
    request = uow.events("settlement_requested")[0]["payload"]
    assert request["gross_fen"] == 192_000_000
    assert uow.store.claims[CLAIM]["state"] == "awaiting_settlement"


def test_a_resolution_naming_another_enterprise_is_dead_lettered(uow):
    file_claim(uow)
    with pytest.raises(PermanentFailure, match="enterprise_mismatch"):
        handlers.resolve_review(resolved("legal", enterprise_id="ent-9"), uow, sender="ticketing")


def test_a_rejection_rejects_the_claim(uow):
    file_claim(uow)
    handlers.resolve_review(resolved("legal", "reject", ["产权存在抵押"]), uow, sender="ticketing")
    [rejected] = uow.events("claim_rejected")
    assert rejected["payload"]["reasons"] == ["legal: 产权存在抵押"]


def approve(uow):
    file_claim(uow)
    handlers.resolve_review(resolved("legal"), uow, sender="ticketing")
    handlers.resolve_review(resolved("finance"), uow, sender="ticketing")


def test_the_computed_settlement_settles_the_claim_on_the_park_date(uow):
    approve(uow)
    handlers.record_settlement(computed(), uow, sender="billing")
    [settled] = uow.events("claim_settled")
    assert settled["payload"] == {
        "claim_id": CLAIM,
        "enterprise_id": "ent-1",
        "units": ["B07-2F-03", "B07-2F-04"],
        "gross_fen": 192_000_000,
        "net_fen": 150_000_000,
        "settled_on": "2026-11-27",
    }
    assert uow.store.claims[CLAIM]["settlement"]["payout_fen"] == 150_000_000
    assert not handlers.record_settlement(computed(), uow, sender="billing")
    assert len(uow.events("claim_settled")) == 1


def test_a_negative_net_still_settles_with_no_payout(uow):
    approve(uow)
    handlers.record_settlement(computed(net_fen=-5_000_000), uow, sender="billing")
    assert uow.events("claim_settled")[0]["payload"]["net_fen"] == -5_000_000
    assert uow.store.claims[CLAIM]["settlement"]["payout_fen"] == 0


def test_a_settlement_at_another_gross_is_dead_lettered_and_changes_nothing(uow):
    approve(uow)
    with pytest.raises(PermanentFailure, match="settlement_conflict"):
        handlers.record_settlement(
            computed(gross_fen=200_000_000, net_fen=200_000_000), uow, sender="billing"
        )
    assert uow.store.claims[CLAIM]["state"] == "awaiting_settlement"


def release(uow, units=("B07-2F-03", "B07-2F-04"), claim_id=CLAIM):
    return handlers.release_units(
        {
            "units": list(units),
            "reason": "buyback_settled",
            "application_id": "a",
            "enterprise_id": "ent-1",
            "claim_id": claim_id,
        },
        uow,
    )


def netted(uow, net_fen=150_000_000, claim_id=CLAIM, **figures):
    payload = {
        "claim_id": claim_id,
        "enterprise_id": "ent-1",
        "gross_fen": 192_000_000,
        "net_fen": net_fen,
        "payout_fen": max(net_fen, 0),
        "still_owed_fen": max(-net_fen, 0),
        "settled_on": date(2026, 11, 27),
    }
    return handlers.record_netting(payload | figures, uow, sender="billing")


def test_the_release_of_the_claims_units_closes_it_and_empties_the_projection(uow):
    approve(uow)
    handlers.record_settlement(computed(), uow, sender="billing")
    netted(uow)
    release(uow)
    assert uow.types()[-1] == "claim_closed"
    assert [u["unit_id"] for u in uow.store.holdings["ent-1"]["units"]] == ["B02-1F-01"]


def test_a_release_of_units_not_allocated_yet_is_retried(uow):
    handlers.admit_enterprise({"enterprise_id": "ent-1"}, PARK, uow)
    with pytest.raises(TransientFailure):
        handlers.release_units(
            {
                "units": ["B07-2F-03"],
                "reason": "lease_ended",
                "application_id": "a",
                "enterprise_id": "ent-1",
                "claim_id": None,
            },
            uow,
        )


def test_a_release_of_units_only_reserved_changes_nothing(uow):
    assert not handlers.release_units(
        {
            "units": ["B07-2F-03"],
            "reason": "application_rejected",
            "application_id": "a",
            "enterprise_id": None,
            "claim_id": None,
        },
        uow,
    )


def test_the_enterprise_withdraws_before_settlement(uow):
    file_claim(uow)
    handlers.withdraw_by_enterprise(
        {"claim_id": CLAIM, "enterprise_id": "ent-1", "reason": "经营好转"}, PARK, uow
    )
    assert uow.events("claim_withdrawn")[0]["payload"]["reason"] == "经营好转"


def test_a_withdrawal_after_settlement_is_refused_with_an_event(uow):
    approve(uow)
    handlers.record_settlement(computed(), uow, sender="billing")
    handlers.withdraw_by_enterprise(
        {"claim_id": CLAIM, "enterprise_id": "ent-1", "reason": "x"}, PARK, uow
    )
    [refused] = uow.events("claim_withdrawal_refused")
    assert refused["payload"]["code"] == "already_settled"
    assert uow.store.claims[CLAIM]["state"] == "awaiting_release"


def test_a_withdrawal_by_another_enterprise_is_refused(uow):
    file_claim(uow)
    handlers.withdraw_by_enterprise(
        {"claim_id": CLAIM, "enterprise_id": "ent-9", "reason": "x"}, PARK, uow
    )
    [refused] = uow.events("claim_withdrawal_refused")
    assert refused["payload"]["code"] == "enterprise_mismatch"
    assert refused["payload"]["enterprise_id"] == "ent-9"  # to the one who asked
    assert uow.store.claims[CLAIM]["state"] == "under_review"


def test_a_withdrawal_of_an_unknown_claim_is_retried_then_refused(uow):
    payload = {"claim_id": CLAIM, "enterprise_id": "ent-1", "reason": "x"}
    with pytest.raises(TransientFailure):
        handlers.withdraw_by_enterprise(payload, PARK, uow, occurred_at=NOW)
    handlers.withdraw_by_enterprise(payload, PARK, uow, occurred_at=NOW - timedelta(hours=2))
    assert uow.events("claim_withdrawal_refused")[0]["payload"]["code"] == "unknown_claim"


def test_the_operator_withdraws_and_is_refused_after_settlement(uow):
    file_claim(uow)
    view = handlers.withdraw_claim(CLAIM, "operator decision", "op-li", uow)
    assert view["state"] == "withdrawn" and view["withdrawal"]["operator"] == "op-li"
    with pytest.raises(NotFound):
        handlers.withdraw_claim(OTHER_CLAIM, "x", "op", uow)


def test_the_operators_withdrawal_after_settlement_is_an_illegal_transition(uow):
    approve(uow)
    handlers.record_settlement(computed(), uow, sender="billing")
    with pytest.raises(IllegalTransition, match=r"\[already_settled\]"):
        handlers.withdraw_claim(CLAIM, "x", "op", uow)


def test_the_timer_acts_on_due_claims_only_and_once(uow):
    approve(uow)
    assert handlers.scan_deadlines(uow).acted == 0
    uow.now = NOW + timedelta(hours=24)
    assert handlers.scan_deadlines(uow).acted == 1
    assert uow.types()[-1] == "settlement_requested"
    assert handlers.scan_deadlines(uow).acted == 0
    uow.now = NOW + timedelta(hours=48)
    handlers.scan_deadlines(uow)
    assert uow.types()[-1] == "claim_escalated"
    assert uow.events("claim_escalated")[0]["payload"]["stage"] == "settlement"


def test_the_review_deadline_counts_business_days(uow):
    file_claim(uow)  # Friday 2026-11-27: 10 business days end at 24:00 on Friday 12-11
    uow.now = datetime(2026, 12, 11, 15, 59, tzinfo=UTC)
    handlers.scan_deadlines(uow)
    assert uow.events("claim_escalated") == []
    uow.now = datetime(2026, 12, 11, 16, 0, tzinfo=UTC)
    handlers.scan_deadlines(uow)
    assert uow.events("claim_escalated")[0]["payload"]["stage"] == "review"


def test_a_missing_release_is_stuck_in_the_list_and_history(uow):
    approve(uow)
    handlers.record_settlement(computed(), uow, sender="billing")
    netted(uow)
    uow.now = NOW + timedelta(days=14)
    handlers.scan_deadlines(uow)
    assert [c["claim_id"] for c in handlers.list_claims("stuck", uow)] == [CLAIM]
    history = handlers.claim_history(CLAIM, uow)
    assert history["claim"]["state"] == "stuck"
    assert history["steps"][-1]["step"] == "claim_escalated"
    assert history["steps"][-1]["detail"]["stage"] == "release"


def test_the_history_holds_every_step_in_order(uow):
    approve(uow)
    steps = [s["step"] for s in handlers.claim_history(CLAIM, uow)["steps"]]
    assert steps == [
        "claim_filed",
        "claim_review_requested",
        "review_resolved",
        "review_resolved",
        "claim_approved",
        "settlement_requested",
    ]


def test_exposure_leaves_out_a_settled_claims_units(uow):
    approve(uow)
    assert handlers.exposure(PARK, None, uow)["total_fen"] == 192_000_000
    handlers.record_settlement(computed(), uow, sender="billing")
    assert handlers.exposure(PARK, None, uow)["total_fen"] == 0
