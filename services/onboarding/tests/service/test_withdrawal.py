"""Withdrawal by the applicant (portal event) and by an operator (RPC), and the review
time limit, through the running service."""

import pytest

from services.onboarding import handlers
from services.onboarding.exceptions import IllegalTransition
from services.onboarding.tests.service.conftest import DEPARTMENTS, application


def under_review(onboarding, units):
    sent = onboarding.submit(application(units))
    onboarding.wait_for_event(sent["application_id"], "review_requested")
    return sent["application_id"]


def test_the_applicant_withdraws_through_the_portal_and_the_units_are_freed(onboarding):
    onboarding.start()
    application_id = under_review(onboarding, ["B13-1F-01"])

    onboarding.portal.publish(
        "application_withdrawn",
        {"application_id": application_id, "reason": "改选他园"},
        park_id="aux-shangjie",
    )

    [withdrawn] = onboarding.wait_for_event(application_id, "application_withdrawn")
    assert withdrawn["payload"]["withdrawn_by"] == "applicant"
    [released] = onboarding.wait_for_event(application_id, "units_released")
    assert released["payload"]["reason"] == "application_withdrawn"
    assert onboarding.unit_statuses("B13-1F-01") == {"B13-1F-01": "available"}


def test_a_withdrawal_arriving_before_its_application_is_applied_once_it_arrives(onboarding):
    onboarding.start()
    payload = application(["B13-1F-02"])
    onboarding.portal.publish(
        "application_withdrawn",
        {"application_id": payload["application_id"], "reason": "改选他园"},
        park_id="aux-shangjie",
    )
    onboarding.submit(payload)

    onboarding.wait_for_event(payload["application_id"], "application_withdrawn")
    assert onboarding.unit_statuses("B13-1F-02") == {"B13-1F-02": "available"}


def test_an_operator_withdraws_an_application_by_rpc(onboarding):
    onboarding.start()
    application_id = under_review(onboarding, ["B13-1F-03"])

    result = onboarding.rpc("withdraw_application", application_id, "逾期未补正")

    assert result == {"application_id": application_id, "status": "withdrawn"}
    [withdrawn] = onboarding.wait_for_event(application_id, "application_withdrawn")
    assert withdrawn["payload"]["withdrawn_by"] == "operator"
    with pytest.raises(IllegalTransition, match="application_closed"):
        onboarding.rpc("withdraw_application", application_id, "again")


def test_a_review_past_the_time_limit_is_announced_as_overdue(onboarding, clock):
    onboarding.start()
    application_id = under_review(onboarding, ["B13-1F-04"])
    onboarding.decide(application_id, DEPARTMENTS[0])
    onboarding.wait_for_event(application_id, "review_decision_recorded")
    clock.advance(days=40)  # 20 business days, whatever the holidays

    assert handlers.process_deadlines(onboarding.uow()).changed == 1

    [overdue] = onboarding.wait_for_event(application_id, "review_overdue")
    assert overdue["payload"]["pending_departments"] == DEPARTMENTS[1:]
    assert onboarding.rpc("application_history", application_id)["status"] == "under_review"
