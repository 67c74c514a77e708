"""A claim belongs to the enterprise's park, never to the envelope's; a park without a
park file is refused; money-moving events are believed only from their owning service,
and every step's verified sender is kept in the claim's history."""

from datetime import date, timedelta

import pytest

from services.buyback import handlers
from services.buyback.domain.errors import UnknownPark
from services.buyback.domain.policy import BuybackPolicy
from services.buyback.tests.unit.fakes import NOW, FakeUnitOfWork
from services.buyback.tests.unit.test_handlers import (
    CLAIM,
    PARK,
    claim_payload,
    computed,
    known_enterprise,
    resolved,
)
from services.buyback.unit_of_work import BuybackRules
from shared.messaging.errors import PermanentFailure

OTHER_PARK = "shangjie-equipment"


@pytest.fixture
def uow():
    return FakeUnitOfWork()


def test_a_request_sent_for_another_park_is_unknown_enterprise_there_at_once(uow):
    known_enterprise(uow)
    # Within the grace an unknown enterprise is retried; this one is known, elsewhere.
    handlers.request_claim(claim_payload(), OTHER_PARK, uow, occurred_at=NOW)
    [ineligible] = uow.events("claim_ineligible")
    assert [r["code"] for r in ineligible["payload"]["reasons"]] == ["unknown_enterprise"]
    assert OTHER_PARK in ineligible["payload"]["reasons"][0]["message"]
    assert PARK not in ineligible["payload"]["reasons"][0]["message"]
    assert ineligible["park_id"] == OTHER_PARK  # answered where it was asked
    assert uow.events("claim_review_requested") == []


def test_a_claim_without_an_envelope_park_is_filed_under_the_enterprises_park_and_rules():
    rules = BuybackRules(
        {PARK: BuybackPolicy(PARK, review_deadline_days=3), OTHER_PARK: BuybackPolicy(OTHER_PARK)}
    )
    uow = FakeUnitOfWork(rules=rules)
    known_enterprise(uow)
    handlers.request_claim(claim_payload(), None, uow, occurred_at=NOW)
    [filed] = uow.events("claim_filed")
    assert filed["park_id"] == PARK
    claim = uow.claims.get(CLAIM)
    assert claim.park_id == PARK
    assert claim.next_due_at == rules.calendar.add_business_days(NOW, 3)


def test_an_enterprise_of_a_park_without_a_park_file_is_refused_not_defaulted():
    uow = FakeUnitOfWork(rules=BuybackRules({OTHER_PARK: BuybackPolicy(OTHER_PARK)}))
    known_enterprise(uow)
    with pytest.raises(PermanentFailure, match=r"unknown_park: .*aux-shangjie"):
        handlers.request_claim(claim_payload(), PARK, uow, occurred_at=NOW)
    assert uow.store.claims == {} and uow.store.outbox == []


def test_the_rules_of_an_unknown_park_are_refused():
    with pytest.raises(UnknownPark, match="no park file"):
        BuybackRules({}).deadlines(PARK)
    with pytest.raises(UnknownPark, match="no park file"):
        BuybackRules({}).deadlines(None)


def filed(uow):
    known_enterprise(uow)
    handlers.request_claim(claim_payload(), PARK, uow, occurred_at=NOW)


def approved(uow):
    filed(uow)
    handlers.resolve_review(resolved("legal"), uow, sender="ticketing")
    handlers.resolve_review(resolved("finance"), uow, sender="ticketing")


@pytest.mark.parametrize("sender", ["park-cli", "billing", "portal"])
def test_a_review_outcome_from_anyone_but_ticketing_is_refused_and_changes_nothing(uow, sender):
    filed(uow)
    before = (dict(uow.store.claims), len(uow.store.outbox))
    with pytest.raises(
        PermanentFailure, match=r"untrusted_sender: ticketing\.events/ticket_resolved"
    ):
        handlers.resolve_review(resolved("legal"), uow, sender=sender, own_user="buyback")
    assert (dict(uow.store.claims), len(uow.store.outbox)) == before
    assert uow.claims.get(CLAIM).reviews == {}


@pytest.mark.parametrize("sender", ["park-cli", "ticketing"])
def test_a_settlement_from_anyone_but_billing_is_refused_and_settles_nothing(uow, sender):
    approved(uow)
    with pytest.raises(PermanentFailure, match=r"untrusted_sender: billing\.events/buyback_"):
        handlers.record_settlement(computed(), uow, sender=sender, own_user="buyback")
    assert uow.events("claim_settled") == []
    assert uow.store.claims[CLAIM]["state"] == "awaiting_settlement"


def test_a_netting_from_the_operator_cli_is_refused(uow):
    approved(uow)
    handlers.record_settlement(computed(), uow, sender="billing")
    payload = {
        "claim_id": CLAIM,
        "enterprise_id": "ent-1",
        "gross_fen": 192_000_000,
        "net_fen": 150_000_000,
        "payout_fen": 150_000_000,
        "still_owed_fen": 0,
        "settled_on": date(2026, 11, 27),
    }
    with pytest.raises(PermanentFailure, match="untrusted_sender"):
        handlers.record_netting(payload, uow, sender="park-cli", own_user="buyback")
    assert uow.store.claims[CLAIM]["netting"] is None


def test_no_verified_sender_outside_a_service_is_refused(uow):
    filed(uow)
    with pytest.raises(PermanentFailure, match="no verified sender"):
        handlers.resolve_review(resolved("legal"), uow, sender=None, own_user=None)


def test_a_copy_the_service_published_itself_is_believed_as_its_own_user(uow):
    # A copy of its own (its retry queue) with no park-sender: the consumer reads the
    # sender as None and the publisher as the service's own user.
    filed(uow)
    assert handlers.resolve_review(resolved("legal"), uow, sender=None, own_user="guest")
    assert handlers.publisher(None, "guest") == "guest"


def test_every_step_of_a_claim_keeps_its_verified_sender(uow):
    approved(uow)
    handlers.record_settlement(computed(), uow, sender="billing")
    uow.now = NOW + timedelta(days=30)
    handlers.scan_deadlines(uow)  # the timer: no sender
    senders = [(s["step"], s["sender"]) for s in handlers.claim_history(CLAIM, uow)["steps"]]
    assert ("review_resolved", "ticketing") in senders
    assert ("claim_approved", "ticketing") in senders
    assert ("settlement_recorded", "billing") in senders
    assert ("claim_settled", "billing") in senders
    assert ("claim_escalated", None) in senders
