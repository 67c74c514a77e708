"""A claim's legal and finance reviews, worked by resident firms through ticketing, with
the four services running: a rejection ends the claim with the firm's reasons, and a
withdrawal — by the enterprise through the portal or by an operator over RPC — ends it
and makes ticketing cancel the reviews still open. In none of them is a settlement
requested, and the units stay the enterprise's."""

from datetime import date

from shared.messaging.publisher import EventPublisher
from tests.e2e.conftest import PARK, Enterprise, ParkWorld
from tests.e2e.flows import complete_review, filed_claim, producing_enterprise
from tests.support.broker import as_user, get_messages, wait_for

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


def test_a_review_approval_forged_by_the_operator_cli_is_refused(park_world):
    """``park-cli`` may publish on any exchange (a manual correction) — but a review's
    outcome is believed from ticketing alone: an approval of both reviews sent as
    ``park-cli`` is dead-lettered, and the claim stays under review."""
    enterprise, claim_id, firms, tickets = claim_in_review(park_world, ["B08-4F-03"])
    operator = EventPublisher(as_user(park_world.amqp_uri, "park-cli"), "ticketing")
    try:
        for review in ("legal", "finance"):
            operator.publish(
                "ticket_resolved",
                {
                    "ticket_id": tickets[review],
                    "enterprise_id": enterprise.enterprise_id,
                    "service_code": "LEGAL-08" if review == "legal" else "FIN-01",
                    "origin": "buyback_review",
                    "request_id": None,
                    "claim_id": claim_id,
                    "review": review,
                    "firm_id": firms[review].firm_id,
                    "outcome": "approve",
                    "reasons": [],
                    "fee_fen": None,
                    "note": "",
                },
                park_id=PARK,
            )
    finally:
        operator.close()

    letters = wait_for(
        lambda: (
            (found := get_messages(park_world.amqp_uri, "buyback.dlq", ack=False))
            and len(found) >= 2
            and found
        ),
        timeout=30,
        message="the buyback service to refuse both forged resolutions",
    )
    assert all("park-cli" in letter.headers["park-error"] for letter in letters), [
        letter.headers["park-error"] for letter in letters
    ]
    history = park_world.rpc("buyback", "claim_history", claim_id)
    assert history["claim"]["state"] == "under_review"
    assert "claim_approved" not in park_world.claim_events(claim_id)
