import itertools

import eventlet
from nameko.testing.services import entrypoint_hook

from services.onboarding import handlers
from services.onboarding.tests.service.conftest import application

SOME_DOCUMENTS = ["入园申请表", "营业执照", "法定代表人身份证", "项目可行性研究报告"]


SEEDS = itertools.count(100)  # one enterprise (USCC) per application: one may be pending


def with_deficiencies(onboarding, units):
    sent = onboarding.submit(application(units, documents=SOME_DOCUMENTS, seed=next(SEEDS)))
    onboarding.wait_for_event(sent["application_id"], "review_requested")
    return sent


def supply(onboarding, application_id, *documents):
    onboarding.portal.publish(
        "documents_supplied",
        {"application_id": application_id, "documents": list(documents)},
        park_id="aux-shangjie",
    )


def test_supplied_documents_clear_their_items(onboarding):
    onboarding.start()
    sent = with_deficiencies(onboarding, ["B09-1F-01"])

    supply(onboarding, sent["application_id"], "环评承诺书", "产品说明书")

    [received] = onboarding.wait_for_event(sent["application_id"], "documents_received")
    assert received["payload"]["cleared"] == ["环评承诺书"]
    assert received["payload"]["outstanding"] == ["安全生产承诺书"]
    assert received["payload"]["unrecognised"] == ["产品说明书"]


def test_a_deadline_passing_before_admission_suspends_and_releases_the_units(onboarding, clock):
    onboarding.start()
    sent = with_deficiencies(onboarding, ["B09-2F-01"])
    clock.advance(days=14)  # Friday 11 Dec 2026, 10:00 in Zhengzhou: the last day, not over

    assert handlers.process_deadlines(onboarding.uow()).changed == 0
    clock.advance(hours=14)  # Saturday 00:00 in Zhengzhou: the deadline has passed
    assert handlers.process_deadlines(onboarding.uow()).changed == 1

    [suspended] = onboarding.wait_for_event(sent["application_id"], "application_suspended")
    assert suspended["payload"]["outstanding"] == ["环评承诺书", "安全生产承诺书"]
    [received] = onboarding.events_about(sent["application_id"], "application_received")
    assert suspended["correlation_id"] == received["correlation_id"]  # the application's flow
    [released] = onboarding.wait_for_event(sent["application_id"], "units_released")
    assert released["payload"]["reason"] == "application_suspended"
    assert onboarding.unit_statuses("B09-2F-01") == {"B09-2F-01": "available"}
    assert handlers.process_deadlines(onboarding.uow()).changed == 0  # nothing left to do


def test_documents_for_a_suspended_application_are_refused(onboarding, clock):
    onboarding.start()
    sent = with_deficiencies(onboarding, ["B09-3F-01"])
    clock.advance(days=20)
    handlers.process_deadlines(onboarding.uow())
    onboarding.wait_for_event(sent["application_id"], "application_suspended")

    supply(onboarding, sent["application_id"], "环评承诺书")

    [refused] = onboarding.wait_for_event(sent["application_id"], "documents_refused")
    assert refused["payload"]["code"] == "application_closed"


def test_supplying_every_item_in_time_prevents_suspension(onboarding, clock):
    onboarding.start()
    sent = with_deficiencies(onboarding, ["B09-4F-01"])
    supply(onboarding, sent["application_id"], "环评承诺书", "安全生产承诺书")
    onboarding.wait_for_event(sent["application_id"], "documents_received")
    clock.advance(days=30)

    handlers.process_deadlines(onboarding.uow())
    # Past the review time limit too: the review is announced overdue, not suspended.
    onboarding.wait_for_event(sent["application_id"], "review_overdue")
    assert onboarding.events_about(sent["application_id"], "application_suspended") == []
    assert onboarding.unit_statuses("B09-4F-01") == {"B09-4F-01": "reserved"}


def test_after_admission_an_overdue_item_is_escalated_once_to_the_service_officer(
    onboarding, clock
):
    onboarding.start()
    sent = with_deficiencies(onboarding, ["B09-1F-06"])
    supply(onboarding, sent["application_id"], "环评承诺书")
    onboarding.wait_for_event(sent["application_id"], "documents_received")
    onboarding.approve_all(sent["application_id"])
    [admission] = onboarding.wait_for_event(sent["application_id"], "enterprise_admitted")
    clock.advance(days=20)

    assert handlers.process_deadlines(onboarding.uow()).changed == 1
    assert handlers.process_deadlines(onboarding.uow()).changed == 0

    [escalated] = onboarding.wait_for_event(sent["application_id"], "deficiency_escalated")
    assert escalated["payload"]["item"] == "安全生产承诺书"
    assert (
        escalated["payload"]["chief_service_officer"]
        == (admission["payload"]["chief_service_officer"])
    )
    assert onboarding.unit_statuses("B09-1F-06") == {"B09-1F-06": "sold"}


def test_two_instances_scanning_at_once_suspend_each_application_once(onboarding, clock):
    onboarding.start()
    applications = [
        with_deficiencies(onboarding, [f"B10-{floor}F-0{room}"])
        for floor in (1, 2)
        for room in (1, 2, 3)
    ]
    clock.advance(days=20)

    scans = [eventlet.spawn(handlers.process_deadlines, onboarding.uow()) for _ in range(2)]
    changed = [scan.wait().changed for scan in scans]

    assert sum(changed) == len(applications)
    for sent in applications:
        onboarding.wait_for_event(sent["application_id"], "application_suspended")
    for sent in applications:
        assert len(onboarding.events_about(sent["application_id"], "application_suspended")) == 1


def test_the_timer_entrypoint_runs_the_deadline_scan(onboarding, clock):
    container = onboarding.start()
    sent = with_deficiencies(onboarding, ["B10-4F-01"])
    clock.advance(days=20)

    with entrypoint_hook(container, "scan_deadlines") as scan:
        scan()

    onboarding.wait_for_event(sent["application_id"], "application_suspended")
