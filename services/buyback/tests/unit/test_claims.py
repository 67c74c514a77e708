"""The claim as a process manager: transitions, illegal ones, duplicates, deadlines."""

from datetime import timedelta

import pytest

from services.buyback.domain.claim_document import claim_from_document, claim_to_document
from services.buyback.domain.claims import Claim, ClaimState
from services.buyback.domain.errors import Conflict, Refused
from services.buyback.domain.events import Offset
from services.buyback.domain.reasons import Reason
from services.buyback.tests.unit.builders import (
    DEADLINES,
    NOW,
    approved_claim,
    filed_claim,
    request,
    settled_claim,
)


def types(claim):
    return [e.event_type for e in claim.events]


def netted(claim, now=NOW, **figures):
    """Billing books the settlement the claim recorded (or ``figures`` instead)."""
    settlement = claim.settlement
    values = {
        "gross_fen": settlement.gross_fen,
        "net_fen": settlement.net_fen,
        "payout_fen": settlement.payout_fen,
        "still_owed_fen": max(-settlement.net_fen, 0),
        "settled_on": settlement.settled_on,
    }
    return claim.record_netting(**(values | figures), now=now)


def resolve(claim, review, outcome="approve", reasons=(), now=NOW):
    return claim.resolve_review(
        review, outcome, reasons, ticket_id=f"t-{review}", firm_id="f", now=now, deadlines=DEADLINES
    )


def test_filing_requests_the_legal_and_finance_reviews_and_starts_the_review_deadline():
    claim = Claim.file(
        request(),
        park_id="aux-shangjie",
        units=filed_claim().units,
        received_on=NOW.date(),
        window_ends_on=NOW.date(),
        now=NOW,
        deadlines=DEADLINES,
    )
    assert types(claim) == ["claim_filed", "claim_review_requested"]
    assert claim.events[1].reviews == ("legal", "finance")
    assert claim.events[0].gross_fen == 192_000_000
    assert claim.state is ClaimState.UNDER_REVIEW
    assert claim.next_due_at == NOW + timedelta(days=10)


def test_an_ineligible_claim_is_kept_closed_with_its_reasons():
    reasons = [Reason("window_expired", "too late")]
    claim = Claim.ineligible(
        request(), park_id=None, reasons=reasons, received_on=NOW.date(), now=NOW
    )
    assert types(claim) == ["claim_ineligible"]
    assert not claim.is_open and claim.next_due_at is None


def test_one_approval_waits_for_the_other():
    claim = filed_claim()
    assert resolve(claim, "legal")
    assert claim.state is ClaimState.UNDER_REVIEW and claim.events == []


def test_both_approvals_approve_and_request_settlement_at_the_recorded_prices():
    claim = filed_claim()
    resolve(claim, "finance")
    resolve(claim, "legal")
    assert types(claim) == ["claim_approved", "settlement_requested"]
    settlement = claim.events[1]
    assert [(u.unit_id, u.price_fen) for u in settlement.units] == [
        ("B07-2F-03", 96_000_000),
        ("B07-2F-04", 96_000_000),
    ]
    assert settlement.gross_fen == 192_000_000
    assert claim.state is ClaimState.AWAITING_SETTLEMENT
    assert claim.next_due_at == NOW + timedelta(hours=24)


def test_a_second_resolution_of_the_same_review_has_no_effect():
    claim = filed_claim()
    resolve(claim, "legal")
    assert not resolve(claim, "legal", "reject", ("changed mind",))
    assert claim.reviews["legal"].outcome == "approve"


def test_a_rejection_rejects_the_claim_with_its_reasons_and_stops_the_clock():
    claim = filed_claim()
    resolve(claim, "finance", "reject", ("流水不支持经营困难",))
    assert types(claim) == ["claim_rejected"]
    assert claim.events[0].rejected_by == ("finance",)
    assert claim.events[0].reasons == ("finance: 流水不支持经营困难",)
    assert claim.state is ClaimState.REJECTED and claim.next_due_at is None


def test_a_resolution_after_the_rejection_is_recorded_without_events():
    claim = filed_claim()
    resolve(claim, "finance", "reject", ("no",))
    claim.events.clear()
    assert resolve(claim, "legal")
    assert claim.events == [] and claim.state is ClaimState.REJECTED


def test_a_review_outcome_of_done_is_a_conflict():
    with pytest.raises(Conflict) as error:
        resolve(filed_claim(), "legal", "done")
    assert error.value.code == "not_a_review_outcome"


def test_the_settlement_records_payout_and_settles_on_the_park_date():
    claim = approved_claim()
    offsets = (Offset("invoice", "4b7c1e9a-0000-4000-8000-000000000001", 42_000_000),)
    assert claim.settle(192_000_000, offsets, 150_000_000, now=NOW, deadlines=DEADLINES)
    assert types(claim) == ["claim_settled"]
    settled = claim.events[0]
    assert (settled.gross_fen, settled.net_fen) == (192_000_000, 150_000_000)
    assert settled.units == ("B07-2F-03", "B07-2F-04")
    assert str(settled.settled_on) == "2026-11-27"
    assert claim.settlement.payout_fen == 150_000_000
    assert claim.state is ClaimState.AWAITING_RELEASE
    assert claim.release_due_at == NOW + timedelta(days=5)
    assert claim.netting_due_at == NOW + timedelta(hours=24)
    assert claim.next_due_at == claim.netting_due_at  # the earlier of the two waits


def test_a_negative_net_pays_nothing_and_still_completes_the_buyback():
    claim = approved_claim()
    offsets = (Offset("invoice", None, 200_000_000),)
    claim.settle(192_000_000, offsets, -8_000_000, now=NOW, deadlines=DEADLINES)
    assert claim.settlement.payout_fen == 0
    assert claim.events[0].net_fen == -8_000_000
    assert claim.state is ClaimState.AWAITING_RELEASE


def test_the_same_settlement_again_has_no_effect_and_other_figures_are_a_conflict():
    claim = settled_claim()
    offsets = claim.settlement.offsets
    assert not claim.settle(192_000_000, offsets, 150_000_000, now=NOW, deadlines=DEADLINES)
    with pytest.raises(Conflict):
        claim.settle(192_000_000, (), 192_000_000, now=NOW, deadlines=DEADLINES)


def test_a_gross_other_than_the_recorded_prices_is_a_conflict():
    with pytest.raises(Conflict) as error:
        approved_claim().settle(200_000_000, (), 200_000_000, now=NOW, deadlines=DEADLINES)
    assert error.value.code == "settlement_conflict"


def test_a_settlement_never_requested_is_a_conflict():
    with pytest.raises(Conflict) as error:
        filed_claim().settle(192_000_000, (), 192_000_000, now=NOW, deadlines=DEADLINES)
    assert error.value.code == "settlement_not_requested"


def test_the_release_of_every_unit_closes_the_claim_once():
    claim = settled_claim()
    netted(claim)
    assert claim.record_release(["B07-2F-03", "B07-2F-04"], NOW)
    assert types(claim) == ["claim_closed"]
    assert claim.state is ClaimState.CLOSED and claim.next_due_at is None
    claim.events.clear()
    assert not claim.record_release(["B07-2F-03", "B07-2F-04"], NOW)
    assert claim.events == []


def test_a_partial_release_waits_for_the_rest():
    claim = settled_claim()
    netted(claim)
    assert claim.record_release(["B07-2F-03"], NOW)
    assert claim.state is ClaimState.AWAITING_RELEASE and claim.events == []
    claim.record_release(["B07-2F-04"], NOW)
    assert types(claim) == ["claim_closed"]


def test_a_release_before_the_settlement_or_of_other_units_is_a_conflict():
    with pytest.raises(Conflict):
        approved_claim().record_release(["B07-2F-03"], NOW)
    with pytest.raises(Conflict) as error:
        settled_claim().record_release(["B09-1F-01"], NOW)
    assert "B09-1F-01" in str(error.value)


@pytest.mark.parametrize("make", [filed_claim, approved_claim])
def test_a_claim_is_withdrawn_before_settlement_once(make):
    claim = make()
    assert claim.withdraw("经营好转", by="enterprise", operator=None, now=NOW)
    assert types(claim) == ["claim_withdrawn"]
    assert claim.events[0].reason == "经营好转"
    assert claim.state is ClaimState.WITHDRAWN and claim.next_due_at is None
    claim.events.clear()
    assert not claim.withdraw("again", by="operator", operator="op", now=NOW)
    assert claim.events == []


def test_a_withdrawal_after_settlement_is_refused():
    claim = settled_claim()
    with pytest.raises(Refused) as error:
        claim.withdraw("too late", by="operator", operator="op", now=NOW)
    assert error.value.code == "already_settled"
    assert claim.state is ClaimState.AWAITING_RELEASE


def test_a_withdrawal_of_a_rejected_claim_is_refused_as_not_open():
    claim = filed_claim()
    resolve(claim, "legal", "reject", ("no",))
    with pytest.raises(Refused) as error:
        claim.withdraw("x", by="enterprise", operator=None, now=NOW)
    assert error.value.code == "claim_not_open"


def test_a_settlement_computed_after_a_withdrawal_is_recorded_and_pays_nothing():
    claim = approved_claim()
    claim.withdraw("x", by="operator", operator="op", now=NOW)
    claim.events.clear()
    assert claim.settle(192_000_000, (), 192_000_000, now=NOW, deadlines=DEADLINES)
    assert claim.events == [] and claim.settlement is None
    assert claim.state is ClaimState.WITHDRAWN
    restored = claim_from_document(claim_to_document(claim))
    assert not restored.settle(192_000_000, (), 192_000_000, now=NOW, deadlines=DEADLINES)


def test_nothing_happens_before_a_deadline():
    claim = filed_claim()
    assert not claim.check_deadlines(NOW + timedelta(days=10) - timedelta(seconds=1), DEADLINES)
    assert claim.events == []


def test_a_stalled_review_is_escalated_once_naming_the_pending_reviews():
    claim = filed_claim()
    resolve(claim, "legal")
    assert claim.check_deadlines(NOW + timedelta(days=10), DEADLINES)
    [escalated] = claim.events
    assert (escalated.event_type, escalated.stage) == ("claim_escalated", "review")
    assert "finance" in escalated.reason and "legal" not in escalated.reason.split("(")[0]
    assert claim.next_due_at is None and claim.state is ClaimState.UNDER_REVIEW
    assert not claim.check_deadlines(NOW + timedelta(days=30), DEADLINES)


def test_an_unanswered_settlement_is_requested_again_then_escalated():
    claim = approved_claim()
    first_due = claim.next_due_at
    assert claim.check_deadlines(first_due, DEADLINES)
    assert types(claim) == ["settlement_requested"]
    assert claim.events[0].gross_fen == 192_000_000
    assert claim.next_due_at == first_due + timedelta(hours=24)
    claim.events.clear()
    assert claim.check_deadlines(claim.next_due_at, DEADLINES)
    assert types(claim) == ["claim_escalated"] and claim.events[0].stage == "settlement"
    assert claim.next_due_at is None and claim.state is ClaimState.AWAITING_SETTLEMENT


def test_a_missing_release_makes_the_claim_stuck_and_a_late_release_still_closes_it():
    claim = settled_claim()
    netted(claim)
    claim.notes.clear()
    assert claim.next_due_at == claim.release_due_at
    assert claim.check_deadlines(claim.next_due_at, DEADLINES)
    assert claim.state is ClaimState.STUCK and claim.is_open
    assert types(claim) == ["claim_escalated"] and claim.events[0].stage == "release"
    assert "B07-2F-03" in claim.events[0].reason
    claim.events.clear()
    claim.record_release(["B07-2F-03", "B07-2F-04"], NOW + timedelta(days=9))
    assert claim.state is ClaimState.CLOSED and types(claim) == ["claim_closed"]
    # The spurious stuck (a release queued behind an outage) is visible in the history.
    [closed_late] = [n for n in claim.notes if n.step == "closed_after_stuck"]
    assert closed_late.detail == {"escalated": ["release"]}


def test_a_claim_survives_its_document_round_trip():
    claim = settled_claim()
    claim.check_deadlines(claim.next_due_at, DEADLINES)
    claim.events.clear()
    restored = claim_from_document(claim_to_document(claim))
    assert claim_to_document(restored) == claim_to_document(claim)
    assert restored.settlement == claim.settlement
    assert restored.reviews == claim.reviews


def test_a_claim_settled_before_nettings_were_awaited_still_closes_on_its_release():
    claim = settled_claim()
    document = claim_to_document(claim)
    for key in ("release_due_at", "netting", "netting_due_at", "release_refusal"):
        del document[key]  # as stored before this service consumed buyback_netted
    document["next_due_at"] = "2026-12-02T02:00:00+00:00"
    older = claim_from_document(document)
    assert older.release_due_at == older.next_due_at
    older.record_release(["B07-2F-03", "B07-2F-04"], NOW)
    assert older.state is ClaimState.CLOSED and types(older) == ["claim_closed"]
