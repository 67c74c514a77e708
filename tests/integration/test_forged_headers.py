"""park-* headers from anyone but the service itself are not believed: a forged
``park-attempts`` cannot skip the retry ladder, and forged ``park-original-*`` (or any
other park-*) headers never reach a dead letter, where a replay would trust them."""

import json
import uuid
from datetime import UTC, datetime

import pytest

from shared.contract import build, encode
from shared.messaging.amqp_client import BrokerAddress, ConfirmingPublisher, OutgoingMessage
from shared.messaging.management import ManagementClient
from tests.services import recorder
from tests.services.recorder import Alpha
from tests.support.broker import get_messages, wait_for

FORGED = {
    "park-attempts": 99,
    "park-original-queue": "onboarding.gov.review_decided",
    "park-original-exchange": "gov.events",
    "park-original-routing-key": "review_decided",
    "park-error": "forged",
    "park-failed-at": "2026-11-27T05:40:00Z",
    "park-replayed-at": "2026-11-27T05:41:00Z",
    "park-sender": "firm-other",
    "Park-Whatever": "forged",
    "trace-id": "kept",
}


@pytest.fixture
def portal(world):
    """Another system's broker user, publishing with its own verified user_id."""
    address = BrokerAddress.from_uri(world.amqp_uri)
    management = ManagementClient.for_broker(None, address)
    user = f"portal-{uuid.uuid4().hex[:6]}"
    management.put_user(user, "secret")
    management.set_permissions(address.vhost, user, configure="^$", write=".*", read="^$")
    uri = f"pyamqp://{user}:secret@{address.host}:{address.port}/{address.vhost}"
    publisher = ConfirmingPublisher(BrokerAddress.from_uri(uri))
    yield publisher, user
    publisher.close()
    management.delete_user(user)


def send(publisher, user, type_: str, body: bytes) -> None:
    properties = {"message_id": "m-1", "user_id": user, "headers": dict(FORGED)}
    publisher.publish([OutgoingMessage("probe.events", type_, body, properties)])


def envelope(type_: str, payload: dict) -> bytes:
    return encode(build("probe", type_, payload, occurred_at=datetime.now(UTC)))


def test_a_forged_park_attempts_does_not_skip_the_retry_ladder(world, portal):
    world.start(Alpha)
    thing_id = str(uuid.uuid4())

    send(*portal, "flaky_thing", envelope("flaky_thing", {"thing_id": thing_id, "fail_times": 1}))

    wait_for(lambda: world.effects("alpha").get(thing_id), timeout=20, message="the effect")
    assert recorder.failures[thing_id] == 1
    assert get_messages(world.amqp_uri, "alpha.dlq") == []


def test_a_dead_letter_carries_only_the_park_headers_the_consumer_set(world, portal):
    world.start(Alpha)
    publisher, user = portal
    body = json.dumps({"not": "an envelope"}).encode()

    send(publisher, user, "thing_happened", body)

    [letter] = wait_for(lambda: get_messages(world.amqp_uri, "alpha.dlq"), message="a letter")
    park = {k: v for k, v in letter.headers.items() if k.lower().startswith("park-")}
    assert "event_id: Missing data" in park.pop("park-error")
    assert park.pop("park-failed-at") != FORGED["park-failed-at"]
    assert park == {
        "park-attempts": 1,
        "park-original-queue": "alpha.probe.thing_happened",
        "park-original-exchange": "probe.events",
        "park-original-routing-key": "thing_happened",
        "park-sender": user,
    }
    assert letter.headers["trace-id"] == "kept"


def test_a_forged_original_queue_survives_no_retry_either(world, portal):
    world.start(Alpha)
    thing_id = str(uuid.uuid4())
    publisher, user = portal

    body = envelope("flaky_thing", {"thing_id": thing_id, "fail_times": -1})
    send(publisher, user, "flaky_thing", body)

    [letter] = wait_for(
        lambda: get_messages(world.amqp_uri, "alpha.dlq"), timeout=20, message="a letter"
    )
    assert letter.headers["park-attempts"] == 3  # the whole (test) ladder, not 100
    assert letter.headers["park-original-queue"] == "alpha.probe.flaky_thing"
    assert letter.headers["park-original-exchange"] == "probe.events"
    assert letter.headers["park-original-routing-key"] == "flaky_thing"
    assert letter.headers["park-sender"] == user
    assert "park-replayed-at" not in letter.headers
