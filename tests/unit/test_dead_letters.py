"""Dead letters without a broker: which may be replayed, and what the replayed copy says."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.messaging.amqp_client import BrokerAddress
from shared.messaging.dead_letters import Letter, LetterQueue, ReplayRules, refusal, replay_message

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
RULES = ReplayRules(
    work_queues={"onboarding.portal.application_submitted", "onboarding.gov.review_decided"},
    service_users={"onboarding"},
    window=timedelta(days=30),
)


class FakePublisher:
    address = BrokerAddress("broker", 5672, "onboarding", "secret", "/")


def consumers_letter(**headers) -> Letter:
    base = {
        "park-original-queue": "onboarding.gov.review_decided",
        "park-failed-at": "2026-11-27T11:00:00Z",
        "park-error": "boom",
        "park-attempts": 6,
        "park-sender": "gov",
    }
    properties = {"message_id": "e-1", "user_id": "onboarding", "type": "review_decided"}
    return Letter(1, b"{}", properties, {**base, **headers})


def brokers_letter(user_id="gov", queue="onboarding.gov.review_decided", **headers) -> Letter:
    death = {
        "count": 1,
        "reason": "delivery_limit",
        "queue": queue,
        "time": datetime(2026, 11, 27, 11, 0),  # py-amqp decodes timestamps naive UTC
        "exchange": "gov.events",
        "routing-keys": ["review_decided"],
    }
    properties = {"message_id": "e-2", "user_id": user_id, "type": "review_decided"}
    return Letter(1, b"{}", properties, {"x-death": [death], "x-delivery-count": 20, **headers})


def test_the_services_own_letter_to_its_work_queue_is_replayable():
    assert refusal(consumers_letter(), RULES, NOW) is None


def test_a_letter_from_another_publisher_naming_a_work_queue_is_refused():
    forged = Letter(
        1,
        b"{}",
        {"message_id": "e-3", "user_id": "portal"},
        {
            "park-original-queue": "onboarding.gov.review_decided",
            "park-failed-at": "2026-11-27T11:00:00Z",
        },
    )

    assert "portal" in refusal(forged, RULES, NOW)


def test_a_letter_naming_a_queue_that_is_not_a_work_queue_of_the_service_is_refused():
    letter = consumers_letter(**{"park-original-queue": "billing.bank.payment_received"})

    assert "not one of this service's work queues" in refusal(letter, RULES, NOW)


@pytest.mark.parametrize(
    "failed_at", ["yesterday", "2026-11-27T11:00:00", 12, "2026-13-01T00:00:00Z"]
)
def test_an_unreadable_failure_time_refuses_that_letter_with_a_reason(failed_at):
    reason = refusal(consumers_letter(**{"park-failed-at": failed_at}), RULES, NOW)

    assert (reason and "park-failed-at" in reason) or "month" in reason


def test_a_letter_the_broker_dead_lettered_is_replayable_to_its_x_death_queue():
    letter = brokers_letter()

    assert letter.original_queue == "onboarding.gov.review_decided"
    assert letter.failed_at == datetime(2026, 11, 27, 11, 0, tzinfo=UTC)
    assert "delivery_limit" in letter.error
    assert refusal(letter, RULES, NOW) is None


def test_a_broker_dead_letter_from_a_queue_of_another_service_is_refused():
    assert refusal(brokers_letter(queue="billing.bank.payment_received"), RULES, NOW)


def test_a_broker_dead_letter_is_replayed_with_its_verified_sender_and_no_forged_headers():
    letter = brokers_letter(
        **{"park-sender": "firm-x", "park-attempts": 99, "park-original-queue": "elsewhere"}
    )

    copy = replay_message(letter, RULES, NOW, FakePublisher())

    headers = copy.properties["headers"]
    assert (copy.exchange, copy.routing_key) == ("", "onboarding.gov.review_decided")
    assert headers["park-sender"] == "gov"
    assert headers["park-original-queue"] == "onboarding.gov.review_decided"
    assert headers["park-original-exchange"] == "gov.events"
    assert "park-attempts" not in headers
    assert not any(key.startswith("x-") for key in headers)
    assert copy.properties["user_id"] == "onboarding"


def test_the_services_own_letter_is_replayed_without_its_failure_headers():
    copy = replay_message(consumers_letter(), RULES, NOW, FakePublisher())

    headers = copy.properties["headers"]
    assert headers["park-sender"] == "gov"
    assert not {"park-error", "park-attempts", "park-failed-at"} & set(headers)
    assert headers["park-replayed-at"] == "2026-11-27T12:00:00Z"


class FakeMessage:
    def __init__(self, number: int):
        self.delivery_tag = number
        self.body = b"{}"
        self.properties = {"message_id": f"e-{number}"}


class DeepChannel:
    """A queue of ``depth`` letters, handed out one by one."""

    def __init__(self, depth: int):
        self.depth = depth
        self.given = 0

    def queue_declare(self, queue, passive=False):
        return queue, self.depth, 0

    def basic_get(self, queue):
        if self.given == self.depth:
            return None
        self.given += 1
        return FakeMessage(self.given)


def test_a_walk_reaches_the_last_letter_of_a_queue_deeper_than_ten_thousand():
    letters = list(LetterQueue(None, "onboarding.dlq")._take(DeepChannel(10_005)))

    assert letters[-1][1].event_id == "e-10005"
    assert letters[-1][1].position == 10_005


header_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text() | st.datetimes(),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)


@given(
    headers=st.dictionaries(
        st.sampled_from(
            ["x-death", "park-failed-at", "park-original-queue", "park-error", "other"]
        ),
        header_values,
    ),
    user_id=st.none() | st.text(max_size=10) | st.integers(),
)
def test_any_headers_get_a_decision_never_an_exception(headers, user_id):
    letter = Letter(1, b"", {"user_id": user_id, "message_id": 5}, headers)

    reason = refusal(letter, RULES, NOW)

    assert reason is None or isinstance(reason, str)
    letter.error, letter.failed_at_text, letter.event_id  # noqa: B018  (display never fails)
