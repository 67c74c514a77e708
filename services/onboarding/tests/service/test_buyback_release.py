import uuid

from services.onboarding.tests.service.conftest import application
from tests.support.broker import get_messages, wait_for


def admit(onboarding, units, **changes):
    sent = onboarding.submit(application(units, **changes))
    onboarding.wait_for_event(sent["application_id"], "review_requested")
    onboarding.approve_all(sent["application_id"])
    [admission] = onboarding.wait_for_event(sent["application_id"], "enterprise_admitted")
    onboarding.wait_for_event(sent["application_id"], "units_allocated")
    return sent, admission["payload"]["enterprise_id"]


def test_a_settled_buyback_claim_returns_the_units_to_inventory(onboarding):
    onboarding.start()
    sent, enterprise_id = admit(onboarding, ["S05", "S06"])
    claim_id = str(uuid.uuid4())

    onboarding.buyback.publish(
        "claim_settled",
        {"claim_id": claim_id, "enterprise_id": enterprise_id, "units": ["S05", "S06"]},
        park_id="aux-shangjie",
    )

    [allocated] = onboarding.wait_for_event(sent["application_id"], "units_allocated")
    [released] = onboarding.wait_for_event(sent["application_id"], "units_released")
    assert released["payload"] == {
        "units": ["S05", "S06"],
        "reason": "buyback_settled",
        "application_id": sent["application_id"],
        "enterprise_id": enterprise_id,
        "claim_id": claim_id,
        "contract_id": allocated["payload"]["contract_id"],
    }
    assert onboarding.unit_statuses("S05", "S06") == {"S05": "available", "S06": "available"}


def test_a_settlement_for_units_the_enterprise_does_not_own_is_refused_with_an_event(onboarding):
    onboarding.start()
    _, enterprise_id = admit(onboarding, ["S07"], tenure="lease")
    claim_id = str(uuid.uuid4())

    onboarding.buyback.publish(
        "claim_settled",
        {"claim_id": claim_id, "enterprise_id": enterprise_id, "units": ["S07"]},
        park_id="aux-shangjie",
    )

    [refused] = wait_for(
        lambda: [
            e
            for e in onboarding.events()
            if e["type"] == "release_refused" and e["payload"]["claim_id"] == claim_id
        ],
        message="release_refused",
    )
    assert refused["park_id"] == "aux-shangjie"
    assert refused["payload"]["enterprise_id"] == enterprise_id
    assert refused["payload"]["units"] == ["S07"]
    assert refused["payload"]["reasons"][0]["code"] == "units_not_owned"
    assert "S07 (leased, not sold to it)" in refused["payload"]["reasons"][0]["message"]
    assert get_messages(onboarding.amqp_uri, "onboarding.dlq") == []  # no dead letter
    assert onboarding.unit_statuses("S07") == {"S07": "leased"}
