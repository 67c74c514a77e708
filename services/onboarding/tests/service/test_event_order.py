"""Events about an application that arrive before the application itself (DESIGN §5,
*Order*): each subscription has its own queue, so a department's decision or the
applicant's documents may be handled before the submission they refer to. They wait on
the retry ladder and take effect once it arrives; one whose application never comes is
dead-lettered saying so."""

import uuid

from prometheus_client import REGISTRY

from services.onboarding.tests.service.conftest import DEPARTMENTS, application
from services.onboarding.tests.service.test_deficiencies import SOME_DOCUMENTS, supply
from tests.support.broker import get_messages, wait_for


def handled(queue: str) -> float:
    """How many messages of ``queue`` the consumer has settled so far, any outcome."""
    return sum(
        REGISTRY.get_sample_value(
            "park_events_consumed_total",
            {"service": "onboarding", "queue": queue, "outcome": outcome},
        )
        or 0
        for outcome in ("applied", "duplicate", "retried", "dead_lettered")
    )


def wait_until_tried(queue: str, before: float, count: int) -> None:
    """Wait until the consumer has handled ``count`` more messages of ``queue``: the
    events were looked at before the application they name was there."""
    wait_for(
        lambda: handled(queue) - before >= count,
        message=f"{count} message(s) of {queue} handled once",
    )


def test_decisions_arriving_before_their_application_admit_it_once_it_arrives(onboarding):
    onboarding.start()
    payload = application(["B14-1F-01"], seed=301)
    application_id = payload["application_id"]
    before = handled("onboarding.gov.review_decided")

    onboarding.approve_all(application_id)
    wait_until_tried("onboarding.gov.review_decided", before, len(DEPARTMENTS))
    onboarding.submit(payload)

    [admission] = onboarding.wait_for_event(application_id, "enterprise_admitted")
    recorded = onboarding.events_about(application_id, "review_decision_recorded")
    assert sorted(e["payload"]["department"] for e in recorded) == sorted(DEPARTMENTS)
    assert onboarding.events_about(application_id, "review_decision_refused") == []
    onboarding.wait_for_event(application_id, "units_allocated")
    assert onboarding.unit_statuses("B14-1F-01") == {"B14-1F-01": "sold"}
    assert admission["payload"]["application_id"] == application_id
    assert onboarding.rpc("application_history", application_id)["status"] == "admitted"


def test_documents_arriving_before_their_application_clear_its_items(onboarding):
    onboarding.start()
    payload = application(["B14-1F-02"], documents=SOME_DOCUMENTS, seed=302)
    application_id = payload["application_id"]
    before = handled("onboarding.portal.documents_supplied")

    supply(onboarding, application_id, "环评承诺书", "安全生产承诺书")
    wait_until_tried("onboarding.portal.documents_supplied", before, 1)
    onboarding.submit(payload)

    [accepted] = onboarding.wait_for_event(application_id, "application_accepted_with_deficiencies")
    assert accepted["payload"]["items"] == ["环评承诺书", "安全生产承诺书"]
    [received] = onboarding.wait_for_event(application_id, "documents_received")
    assert received["payload"]["cleared"] == ["环评承诺书", "安全生产承诺书"]
    assert received["payload"]["outstanding"] == []
    assert onboarding.events_about(application_id, "documents_refused") == []
    assert onboarding.rpc("application_history", application_id)["outstanding_items"] == []


def dead_letter(onboarding):
    [letter] = wait_for(
        lambda: get_messages(onboarding.amqp_uri, "onboarding.dlq"), message="the dead letter"
    )
    return letter


def test_a_decision_whose_application_never_comes_is_dead_lettered_as_unknown(onboarding):
    onboarding.start()
    application_id = str(uuid.uuid4())

    onboarding.decide(application_id, "market_regulation")

    letter = dead_letter(onboarding)  # after the ladder (1 s, 2 s in these tests)
    assert letter.headers["park-original-queue"] == "onboarding.gov.review_decided"
    assert letter.headers["park-attempts"] == 3
    assert f"application {application_id} is unknown" in letter.headers["park-error"]
    assert onboarding.events_about(application_id) == []


def test_documents_whose_application_never_comes_are_dead_lettered_as_unknown(onboarding):
    onboarding.start()
    application_id = str(uuid.uuid4())

    supply(onboarding, application_id, "环评承诺书")

    letter = dead_letter(onboarding)
    assert letter.headers["park-original-queue"] == "onboarding.portal.documents_supplied"
    assert f"application {application_id} is unknown" in letter.headers["park-error"]
    assert onboarding.events_about(application_id) == []
