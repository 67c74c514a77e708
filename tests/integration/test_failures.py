import json
import uuid
from datetime import UTC, datetime

import pytest

from shared.contract import build, encode
from tests.services.recorder import Alpha
from tests.support.broker import get_messages, wait_for


def dead_letters(world):
    return get_messages(world.amqp_uri, "alpha.dlq")


def test_a_handler_that_fails_transiently_succeeds_on_a_later_retry_level(world):
    world.start(Alpha)
    thing_id = str(uuid.uuid4())
    world.publisher.publish("flaky_thing", {"thing_id": thing_id, "fail_times": 2})

    wait_for(lambda: world.effects("alpha").get(thing_id), timeout=20, message="the effect")

    assert world.effects("alpha") == {thing_id: 1}
    assert dead_letters(world) == []


def test_a_handler_that_always_fails_is_dead_lettered_after_the_last_level(world):
    world.start(Alpha)
    thing_id = str(uuid.uuid4())
    sent = world.publisher.publish("flaky_thing", {"thing_id": thing_id, "fail_times": -1})

    [letter] = wait_for(lambda: dead_letters(world), timeout=20, message="a dead letter")

    headers = letter.headers
    assert headers["park-attempts"] == 3  # the first try and two retry levels
    assert "TransientFailure: simulated outage #3" in headers["park-error"]
    assert headers["park-original-queue"] == "alpha.probe.flaky_thing"
    assert headers["park-original-exchange"] == "probe.events"
    assert headers["park-original-routing-key"] == "flaky_thing"
    assert headers["park-failed-at"].endswith("Z")
    assert letter.properties["message_id"] == sent["event_id"]
    assert json.loads(letter.body) == json.loads(encode(sent))
    assert world.effects("alpha") == {}


def valid_thing() -> dict:
    payload = {"thing_id": str(uuid.uuid4()), "amount_fen": 100, "happened_at": datetime.now(UTC)}
    return json.loads(
        encode(build("probe", "thing_happened", payload, occurred_at=datetime.now(UTC)))
    )


def with_change(change):
    envelope = valid_thing()
    change(envelope)
    return json.dumps(envelope).encode()


MALFORMED = {
    "invalid JSON": (b'{"event_id": ', "body: not valid JSON"),
    "a missing field": (
        with_change(lambda e: e["payload"].pop("amount_fen")),
        "payload.amount_fen: Missing data for required field.",
    ),
    "a wrong type": (
        with_change(lambda e: e["payload"].update(thing_id=42)),
        "payload.thing_id: Not a UUID.",
    ),
    "a float amount": (
        with_change(lambda e: e["payload"].update(amount_fen=12.5)),
        "payload.amount_fen: Not a valid integer.",
    ),
    "a string amount": (
        with_change(lambda e: e["payload"].update(amount_fen="12")),
        "payload.amount_fen: Not a valid integer.",
    ),
    "a naive datetime": (
        with_change(lambda e: e.update(occurred_at="2026-11-27T05:40:00")),
        "occurred_at: Not a UTC time",
    ),
    "another offset": (
        with_change(lambda e: e["payload"].update(happened_at="2026-11-27T13:40:00+08:00")),
        "payload.happened_at: Not a UTC time",
    ),
    "an unknown type": (
        with_change(lambda e: e.update(type="thing_vanished")),
        "type: no event 'thing_vanished' is registered for source 'probe'",
    ),
    "an unknown version": (
        with_change(lambda e: e.update(version=7)),
        "version: probe/thing_happened has no version 7",
    ),
    "a missing envelope field": (
        with_change(lambda e: e.pop("correlation_id")),
        "correlation_id: Missing data for required field.",
    ),
}


@pytest.mark.parametrize("body, reason", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_message_goes_straight_to_the_dlq_with_a_reason_naming_the_field(
    world, body, reason
):
    world.start(Alpha)
    world.publisher.publish_raw(
        "probe.events", "thing_happened", body, message_id="m-1", content_type="application/json"
    )

    [letter] = wait_for(lambda: dead_letters(world), message="a dead letter")

    assert reason in letter.headers["park-error"]
    assert letter.headers["park-attempts"] == 1
    assert letter.headers["park-original-queue"] == "alpha.probe.thing_happened"
    assert letter.body == body
    assert world.effects("alpha") == {}
