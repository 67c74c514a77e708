import nameko
import pytest

from services.onboarding.tests.service.conftest import DEPARTMENTS, application
from tests.support.broker import get_messages


def admitted(onboarding, units=("B06-1F-01",), **changes):
    sent = onboarding.submit(application(list(units), **changes))
    onboarding.wait_for_event(sent["application_id"], "review_requested")
    onboarding.approve_all(sent["application_id"])
    onboarding.wait_for_event(sent["application_id"], "units_allocated")
    return sent


def test_approval_by_every_department_admits_the_enterprise_and_sells_its_units(onboarding):
    onboarding.start()
    sent = admitted(onboarding, ["B06-1F-01", "B06-1F-02"], industry_code="C2614")

    [admission] = onboarding.events_about(sent["application_id"], "enterprise_admitted")
    [allocation] = onboarding.events_about(sent["application_id"], "units_allocated")
    enterprise = admission["payload"]
    assert enterprise["supply_chain_partner"] is True
    assert enterprise["environmental_review_required"] is True  # C26 chemicals
    assert enterprise["chief_service_officer"]
    assert allocation["payload"]["enterprise_id"] == enterprise["enterprise_id"]
    assert allocation["payload"]["units"] == [
        {
            "unit_id": unit_id,
            "area_m2": 300,
            "tenure": "purchase",
            "price_fen": 96_000_000,
            "monthly_rent_fen": None,
            "monthly_property_fee_fen": 45_000,
            "contract_id": allocation["payload"]["contract_id"],
        }
        for unit_id in ("B06-1F-01", "B06-1F-02")
    ]
    assert onboarding.unit_statuses("B06-1F-01", "B06-1F-02") == {
        "B06-1F-01": "sold",
        "B06-1F-02": "sold",
    }


def test_a_lease_is_priced_by_monthly_rent(onboarding):
    onboarding.start()
    sent = admitted(onboarding, ["S03"], tenure="lease", industry_code="C3464")

    [allocation] = onboarding.events_about(sent["application_id"], "units_allocated")
    [unit] = allocation["payload"]["units"]
    assert (unit["area_m2"], unit["price_fen"], unit["monthly_rent_fen"]) == (1000, None, 1_500_000)
    assert onboarding.unit_statuses("S03") == {"S03": "leased"}
    [admission] = onboarding.events_about(sent["application_id"], "enterprise_admitted")
    assert admission["payload"]["environmental_review_required"] is False


def test_chief_service_officers_are_assigned_to_the_least_loaded_ties_by_id(onboarding):
    onboarding.start()
    officers = []
    for seed in range(5):
        sent = admitted(onboarding, [f"B07-1F-0{seed + 1}"], seed=seed)
        [admission] = onboarding.events_about(sent["application_id"], "enterprise_admitted")
        officers.append(admission["payload"]["chief_service_officer"])

    assert officers[:4] == sorted(officers[:4]) and len(set(officers[:4])) == 4
    assert officers[4] == officers[0]  # all four serve one: the lowest id is next


def test_one_rejection_rejects_the_application_and_releases_its_units(onboarding):
    onboarding.start()
    sent = onboarding.submit(application(["B08-1F-01"]))
    onboarding.wait_for_event(sent["application_id"], "review_requested")

    onboarding.decide(sent["application_id"], "market_regulation")
    onboarding.decide(sent["application_id"], "emergency_management", "reject", "消防通道不足")

    [rejected] = onboarding.wait_for_event(sent["application_id"], "application_rejected")
    assert rejected["payload"]["department"] == "emergency_management"
    assert "消防通道不足" in rejected["payload"]["reasons"][0]["message"]
    [released] = onboarding.wait_for_event(sent["application_id"], "units_released")
    assert released["payload"] == {
        "units": ["B08-1F-01"],
        "reason": "application_rejected",
        "application_id": sent["application_id"],
        "enterprise_id": None,
        "claim_id": None,
        "contract_id": None,  # units only reserved: no contract
    }
    assert onboarding.unit_statuses("B08-1F-01") == {"B08-1F-01": "available"}


def refusals(onboarding, application_id):
    return [
        (e["payload"]["department"], e["payload"]["code"])
        for e in onboarding.events_about(application_id, "review_decision_refused")
    ]


def test_problem_decisions_are_refused_with_a_reason_code(onboarding):
    # The refusals depend on the order the decisions are handled in: one at a time.
    with nameko.config.patch({"PREFETCH_COUNT": 1}):
        onboarding.start()
    # (A decision for an application not seen yet is not refused but retried: it may still
    # come — test_event_order.py.)
    sent = onboarding.submit(application(["B08-2F-01"]))
    onboarding.wait_for_event(sent["application_id"], "review_requested")

    onboarding.decide(sent["application_id"], "tax_bureau")
    onboarding.decide(sent["application_id"], "market_regulation")
    onboarding.decide(sent["application_id"], "market_regulation")  # the same again: nothing
    onboarding.decide(sent["application_id"], "market_regulation", "reject", "changed mind")

    onboarding.wait_for_event(sent["application_id"], "review_decision_refused", count=2)
    assert refusals(onboarding, sent["application_id"]) == [
        ("tax_bureau", "department_not_requested"),
        ("market_regulation", "decision_already_recorded"),
    ]
    assert len(onboarding.events_about(sent["application_id"], "review_decision_recorded")) == 1


def test_a_decision_on_a_closed_application_is_refused(onboarding):
    onboarding.start()
    sent = onboarding.submit(application(["B08-3F-01"]))
    onboarding.wait_for_event(sent["application_id"], "review_requested")
    onboarding.decide(sent["application_id"], "natural_resources", "reject", "用地不符")
    onboarding.wait_for_event(sent["application_id"], "application_rejected")

    onboarding.decide(sent["application_id"], "market_regulation")

    onboarding.wait_for_event(sent["application_id"], "review_decision_refused")
    assert refusals(onboarding, sent["application_id"]) == [
        ("market_regulation", "application_closed")
    ]


def test_each_department_is_recorded_once_whatever_the_order(onboarding):
    onboarding.start()
    sent = onboarding.submit(application(["B08-4F-01"]))
    onboarding.wait_for_event(sent["application_id"], "review_requested")

    for department in reversed(DEPARTMENTS):
        onboarding.decide(sent["application_id"], department)

    onboarding.wait_for_event(sent["application_id"], "enterprise_admitted")
    recorded = onboarding.events_about(sent["application_id"], "review_decision_recorded")
    assert sorted(e["payload"]["department"] for e in recorded) == sorted(DEPARTMENTS)


@pytest.mark.parametrize("onboarding", ["sqlite"], indirect=True)
def test_the_whole_admission_flow_works_on_sqlite(onboarding):
    onboarding.start()
    sent = admitted(onboarding, ["B14-1F"], tenure="lease")

    [allocation] = onboarding.events_about(sent["application_id"], "units_allocated")
    assert len(allocation["payload"]["units"]) == 6
    assert set(onboarding.unit_statuses(*[f"B14-1F-0{r}" for r in range(1, 7)]).values()) == {
        "leased"
    }


def test_a_decision_on_an_application_to_an_unknown_park_is_refused_not_dead_lettered(
    onboarding,
):
    onboarding.start()
    sent = onboarding.submit(application(["B08-4F-01"]), park_id="no-such-park")
    [rejected] = onboarding.wait_for_event(sent["application_id"], "application_rejected")
    assert rejected["payload"]["reasons"][0]["code"] == "park_not_found"

    onboarding.decide(sent["application_id"], "market_regulation")

    onboarding.wait_for_event(sent["application_id"], "review_decision_refused")
    assert refusals(onboarding, sent["application_id"]) == [
        ("market_regulation", "application_closed")
    ]
    assert get_messages(onboarding.amqp_uri, "onboarding.dlq") == []
