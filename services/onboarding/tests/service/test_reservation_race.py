"""Applications racing for overlapping units and whole floors: no unit is ever held by
two applications, and each application gets all of its units or none."""

import random

import pytest

from services.onboarding.tests.service.conftest import application
from tests.support.broker import wait_for

FLOOR = [f"B11-1F-0{room}" for room in range(1, 7)]


def racing_requests(count: int) -> list[list[str]]:
    chooser = random.Random(20261127)
    requests = [["B11-1F"], ["B11-1F"]]  # two whole-floor requests
    while len(requests) < count:
        requests.append(chooser.sample(FLOOR, chooser.randint(1, 3)))
    return requests


@pytest.mark.parametrize("instances", [1, 2], ids=["one instance", "two instances"])
def test_no_unit_is_ever_reserved_by_two_racing_applications(onboarding, instances):
    for _ in range(instances):
        onboarding.start()
    sent = [
        onboarding.submit(application(units, seed=index))
        for index, units in enumerate(racing_requests(24))
    ]

    outcomes = {}
    for payload in sent:

        def decided(application_id=payload["application_id"]):
            return onboarding.events_about(
                application_id, "review_requested"
            ) or onboarding.events_about(application_id, "application_rejected")

        [outcome] = wait_for(decided, message="an outcome")
        outcomes[payload["application_id"]] = outcome

    with onboarding.uow() as uow:
        units = uow.units.get_many("aux-shangjie", FLOOR)
    holders = {unit_id: unit.reserved_for for unit_id, unit in units.items()}
    winners = [app_id for app_id, e in outcomes.items() if e["type"] == "review_requested"]
    reserved = {}
    for payload in sent:
        if payload["application_id"] in winners:
            [received] = onboarding.events_about(payload["application_id"], "application_received")
            for unit_id in received["payload"]["requested_units"]:
                assert unit_id not in reserved, f"{unit_id} reserved twice"
                reserved[unit_id] = payload["application_id"]
    assert winners, "somebody must win"
    assert {u: a for u, a in holders.items() if a} == reserved
    for outcome in outcomes.values():
        if outcome["type"] == "application_rejected":
            assert {r["code"] for r in outcome["payload"]["reasons"]} == {"units_unavailable"}


def test_of_racing_applications_from_one_enterprise_exactly_one_is_reviewed(onboarding):
    for _ in range(2):
        onboarding.start()
    sent = [onboarding.submit(application([f"B11-2F-0{room}"], seed=77)) for room in range(1, 7)]

    outcomes = []
    for payload in sent:

        def decided(application_id=payload["application_id"]):
            return onboarding.events_about(
                application_id, "review_requested"
            ) or onboarding.events_about(application_id, "application_rejected")

        [outcome] = wait_for(decided, message="an outcome")
        outcomes.append(outcome)

    reviewed = [o for o in outcomes if o["type"] == "review_requested"]
    assert len(reviewed) == 1
    for outcome in outcomes:
        if outcome["type"] == "application_rejected":
            assert {r["code"] for r in outcome["payload"]["reasons"]} == {"application_pending"}
