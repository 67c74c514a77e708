"""A claim's legal and finance reviews, worked by resident firms through ticketing, with
the four services running: a rejection ends the claim with the firm's reasons, and a
withdrawal — by the enterprise through the portal or by an operator over RPC — ends it
and makes ticketing cancel the reviews still open. In none of them is a settlement
requested, and the units stay the enterprise's."""

from datetime import date

import pytest

from tests.e2e.conftest import Enterprise, ParkWorld
from tests.e2e.flows import complete_review, filed_claim, producing_enterprise
from tests.support.broker import wait_for

REJECTION = ("经营困难证据不足：仅提供一个季度的报表", "未提供银行流水")


def claim_in_review(world: ParkWorld, units) -> tuple[Enterprise, str, dict, dict]:
    """A producing enterprise's filed claim with both reviews assigned to the firms."""
    world.start()
    firms = world.add_review_firms()
    enterprise = producing_enterprise(world, units, date(2026, 11, 3))
    world.clock.park_day(2026, 11, 20)
    claim_id = filed_claim(world, enterprise)
    return enterprise, claim_id, firms, world.review_tickets(claim_id)


def assert_units_still_held(world: ParkWorld, enterprise: Enterprise) -> None:
    assert world.unit_statuses(enterprise) == {
        unit_id: ("sold", enterprise.enterprise_id) for unit_id in enterprise.unit_ids
    }


def assert_no_settlement(world: ParkWorld, claim_id: str) -> None:
    wait_for(lambda: world.unsent("buyback") == 0, message="the buyback's outbox sent")
    types = world.claim_events(claim_id)
    assert "settlement_requested" not in types and "claim_settled" not in types, types
    assert world.events_where("billing", claim_id=claim_id) == []
    assert world.events_where("onboarding", claim_id=claim_id) == []


def test_a_rejected_review_rejects_the_claim_with_the_firms_reasons(park_world):
    enterprise, claim_id, firms, tickets = claim_in_review(park_world, ["B08-1F-01"])

    complete_review(firms["legal"], tickets["legal"], "approve")
    complete_review(firms["finance"], tickets["finance"], "reject", REJECTION)

    [rejected] = park_world.wait_for("buyback", "claim_rejected", claim_id=claim_id)
    assert rejected["payload"]["enterprise_id"] == enterprise.enterprise_id
    assert rejected["payload"]["rejected_by"] == ["finance"]
    # The firm's own reasons, each labelled with the review that gave it.
    assert rejected["payload"]["reasons"] == [f"finance: {reason}" for reason in REJECTION]
    assert park_world.claim_events(claim_id) == [
        "claim_filed",
        "claim_review_requested",
        "claim_rejected",
    ]
    assert_no_settlement(park_world, claim_id)
    assert_units_still_held(park_world, enterprise)


def test_the_enterprise_withdraws_its_claim_and_the_open_review_is_cancelled(park_world):
    enterprise, claim_id, firms, tickets = claim_in_review(park_world, ["B08-2F-01"])
    complete_review(firms["legal"], tickets["legal"], "approve")
    park_world.wait_for("ticketing", "ticket_resolved", claim_id=claim_id, review="legal")

    park_world.publish(
        "portal",
        "buyback_withdrawn",
        {
            "claim_id": claim_id,
            "enterprise_id": enterprise.enterprise_id,
            "reason": "已获银行续贷，经营恢复",
        },
    )

    [withdrawn] = park_world.wait_for("buyback", "claim_withdrawn", claim_id=claim_id)
    assert withdrawn["payload"]["reason"] == "已获银行续贷，经营恢复"
    [cancelled] = park_world.wait_for("ticketing", "ticket_cancelled", claim_id=claim_id)
    assert cancelled["payload"]["ticket_id"] == tickets["finance"]  # legal was resolved
    assert park_world.claim_events(claim_id) == [
        "claim_filed",
        "claim_review_requested",
        "claim_withdrawn",
    ]
    assert_no_settlement(park_world, claim_id)
    assert_units_still_held(park_world, enterprise)


def test_an_operator_withdraws_a_claim_and_both_reviews_are_cancelled(park_world):
    enterprise, claim_id, _, tickets = claim_in_review(park_world, ["B08-3F-01"])

    park_world.rpc(
        "buyback", "withdraw_claim", claim_id, "企业已注销申请，电话确认撤回", "operator-li"
    )

    [withdrawn] = park_world.wait_for("buyback", "claim_withdrawn", claim_id=claim_id)
    assert withdrawn["payload"]["enterprise_id"] == enterprise.enterprise_id
    cancelled = park_world.wait_for("ticketing", "ticket_cancelled", 2, claim_id=claim_id)
    assert {e["payload"]["ticket_id"] for e in cancelled} == set(tickets.values())
    assert_no_settlement(park_world, claim_id)
    assert_units_still_held(park_world, enterprise)


@pytest.mark.xfail(
    strict=True,
    reason=(
        "buyback/ticketing: when one review rejects the claim (claim_rejected) while the "
        "other is still with its firm, nothing cancels that other review — ticketing "
        "consumes claim_withdrawn only, not claim_rejected — so the firm keeps an open "
        "ticket for a claim that is over (its SLA runs on to sla_breached / escalation); "
        "no ticket_cancelled, no work_withdrawn"
    ),
)
def test_a_rejection_cancels_the_other_review_still_open(park_world):
    """The legal review rejects while the finance review is still with its firm: the
    claim is over, so the finance firm must not go on working it (ticketing cancels it)."""
    _, claim_id, firms, tickets = claim_in_review(park_world, ["B08-4F-01"])

    complete_review(firms["legal"], tickets["legal"], "reject", ("产权存在抵押，无法回购",))

    park_world.wait_for("buyback", "claim_rejected", claim_id=claim_id)
    [cancelled] = park_world.wait_for("ticketing", "ticket_cancelled", claim_id=claim_id)
    assert cancelled["payload"]["ticket_id"] == tickets["finance"]
    park_world.wait_for_work_withdrawn(firms["finance"], tickets["finance"])


def test_a_claim_withdrawn_while_billing_computes_its_settlement_is_never_settled(park_world):
    """Approved, its settlement asked of billing (stopped for now), the enterprise
    withdraws: billing's late answer settles nothing — no claim_settled, no netting, the
    room stays the enterprise's."""
    enterprise, claim_id, firms, tickets = claim_in_review(park_world, ["B08-4F-02"])
    park_world.stop("billing")
    for review in ("legal", "finance"):
        complete_review(firms[review], tickets[review], "approve")
    park_world.wait_for("buyback", "settlement_requested", claim_id=claim_id)

    park_world.publish(
        "portal",
        "buyback_withdrawn",
        {"claim_id": claim_id, "enterprise_id": enterprise.enterprise_id, "reason": "已获融资"},
    )
    park_world.wait_for("buyback", "claim_withdrawn", claim_id=claim_id)
    park_world.restart("billing")

    [computed] = park_world.wait_for("billing", "buyback_settlement_computed", claim_id=claim_id)
    wait_for(
        lambda: park_world.applied("buyback", computed["event_id"]),
        message="the buyback service to take billing's late answer",
    )
    assert park_world.rpc("buyback", "claim_history", claim_id)["claim"]["state"] == "withdrawn"
    wait_for(lambda: park_world.unsent("buyback") == 0, message="the buyback's outbox sent")
    assert "claim_settled" not in park_world.claim_events(claim_id)
    assert park_world.events_where("billing", "buyback_netted", claim_id=claim_id) == []
    assert_units_still_held(park_world, enterprise)
