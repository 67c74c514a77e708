import json
import uuid

import nameko
import pytest

from services.onboarding.tests.service.conftest import DEPARTMENTS, application
from tests.support.broker import get_messages, wait_for


def reason_codes(event: dict) -> list[str]:
    return [reason["code"] for reason in event["payload"]["reasons"]]


def test_a_complete_application_reserves_its_units_and_opens_the_joint_review(onboarding):
    onboarding.start()
    sent = onboarding.submit(application(["B01-1F-01", "B01-1F-02"]))

    [review] = onboarding.wait_for_event(sent["application_id"], "review_requested")

    assert review["payload"]["departments"] == DEPARTMENTS
    [received] = onboarding.events_about(sent["application_id"], "application_received")
    assert received["correlation_id"] == review["correlation_id"]
    assert review["causation_id"] == received["causation_id"]  # both caused by the submission
    assert (
        onboarding.events_about(sent["application_id"], "application_accepted_with_deficiencies")
        == []
    )
    assert onboarding.unit_statuses("B01-1F-01", "B01-1F-02") == {
        "B01-1F-01": "reserved",
        "B01-1F-02": "reserved",
    }


def test_a_whole_floor_is_reserved_as_its_six_rooms(onboarding):
    onboarding.start()
    sent = onboarding.submit(application(["B02-3F"]))

    [received] = onboarding.wait_for_event(sent["application_id"], "application_received")

    rooms = [f"B02-3F-0{room}" for room in range(1, 7)]
    assert received["payload"]["requested_units"] == rooms
    onboarding.wait_for_event(sent["application_id"], "review_requested")
    assert set(onboarding.unit_statuses(*rooms).values()) == {"reserved"}


def test_every_reason_is_reported_at_once(onboarding):
    onboarding.start()
    sent = onboarding.submit(
        application(["B01-1F-01", "B99-9F-09"], uscc="91410100MA44XXXX1X", industry_code="C44")
    )

    [rejected] = onboarding.wait_for_event(sent["application_id"], "application_rejected")

    assert set(reason_codes(rejected)) == {"invalid_uscc", "unknown_industry_code", "unknown_unit"}
    assert all(r["message"] for r in rejected["payload"]["reasons"])
    assert onboarding.unit_statuses("B01-1F-01") == {"B01-1F-01": "available"}


@pytest.mark.parametrize(
    "changes, park_id, code",
    [
        ({"uscc": "91410100MA44XXXX1X"}, "aux-shangjie", "invalid_uscc"),
        ({"industry_code": "C4499"}, "aux-shangjie", "unknown_industry_code"),
        ({"industry_code": "F5191"}, "aux-shangjie", "industry_not_admitted"),
        ({"industry_code": "C1310"}, "shangjie-equipment", "industry_not_admitted"),
        ({"units": ["B01-1F-99"]}, "aux-shangjie", "unknown_unit"),
        ({}, "no-such-park", "park_not_found"),
    ],
    ids=[
        "invalid_uscc",
        "unknown_industry_code",
        "outside_manufacturing",
        "not_in_this_parks_policy",
        "unknown_unit",
        "park_not_found",
    ],
)
def test_a_value_rule_rejects_the_application_with_its_reason_code(
    onboarding, changes, park_id, code
):
    onboarding.start()
    units = changes.pop("units", ["B01-1F-01"])
    sent = onboarding.submit(application(units, **changes), park_id=park_id)

    [rejected] = onboarding.wait_for_event(sent["application_id"], "application_rejected")

    assert set(reason_codes(rejected)) == {code}


def test_a_unit_already_reserved_is_unavailable_to_another_application(onboarding):
    onboarding.start()
    first = onboarding.submit(application(["B03-1F-01"], seed=1))
    onboarding.wait_for_event(first["application_id"], "review_requested")

    second = onboarding.submit(application(["B03-1F-01", "B03-1F-02"], seed=2))

    [rejected] = onboarding.wait_for_event(second["application_id"], "application_rejected")
    assert reason_codes(rejected) == ["units_unavailable"]
    assert onboarding.unit_statuses("B03-1F-01", "B03-1F-02") == {
        "B03-1F-01": "reserved",
        "B03-1F-02": "available",
    }


def test_the_same_application_again_has_no_second_effect(onboarding):
    with nameko.config.patch({"PREFETCH_COUNT": 1}):  # one at a time: the marker comes last
        onboarding.start()
    sent = onboarding.submit(application(["B04-1F-01"]))
    onboarding.wait_for_event(sent["application_id"], "review_requested")
    reordered = sent | {"documents": list(reversed(sent["documents"]))}

    onboarding.submit(reordered)
    marker = onboarding.submit(application(["B04-1F-02"], seed=9))  # handled after the copy
    onboarding.wait_for_event(marker["application_id"], "review_requested")

    assert [e["type"] for e in onboarding.events_about(sent["application_id"])] == [
        "application_received",
        "review_requested",
    ]


def test_the_same_application_id_with_other_content_is_a_conflicting_duplicate(onboarding):
    onboarding.start()
    sent = onboarding.submit(application(["B04-2F-01"]))
    onboarding.wait_for_event(sent["application_id"], "review_requested")

    onboarding.submit(sent | {"tenure": "lease"})

    [refused] = onboarding.wait_for_event(sent["application_id"], "duplicate_submission_refused")
    assert reason_codes(refused) == ["conflicting_duplicate"]
    assert onboarding.unit_statuses("B04-2F-01") == {"B04-2F-01": "reserved"}


def test_missing_documents_are_accepted_with_a_deadline_and_the_review_proceeds(onboarding):
    onboarding.start()
    sent = onboarding.submit(application(["B05-1F-01"], documents=["入园申请表", "营业执照"]))

    [accepted] = onboarding.wait_for_event(
        sent["application_id"], "application_accepted_with_deficiencies"
    )

    assert accepted["payload"]["items"] == [
        "法定代表人身份证",
        "项目可行性研究报告",
        "环评承诺书",
        "安全生产承诺书",
    ]
    # Friday 27 Nov 2026 + 10 business days = Friday 11 Dec, ending at 24:00 Beijing time.
    assert accepted["payload"]["deadline"] == "2026-12-11T16:00:00Z"
    onboarding.wait_for_event(sent["application_id"], "review_requested")


def test_an_application_id_that_is_not_a_uuid_is_dead_lettered_not_rejected(onboarding):
    onboarding.start()
    envelope = {
        "event_id": str(uuid.uuid4()),
        "type": "application_submitted",
        "source": "portal",
        "version": 1,
        "occurred_at": "2026-11-27T02:00:00Z",
        "correlation_id": str(uuid.uuid4()),
        "causation_id": None,
        "park_id": "aux-shangjie",
        "payload": application() | {"application_id": "not-a-uuid"},
    }
    onboarding.portal.publish_raw(
        "portal.events", "application_submitted", json.dumps(envelope).encode()
    )

    [letter] = wait_for(
        lambda: get_messages(onboarding.amqp_uri, "onboarding.dlq"), message="the dead letter"
    )
    assert "payload.application_id: Not a UUID." in letter.headers["park-error"]
