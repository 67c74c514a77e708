"""Whatever the bytes, a message is either handled or dead-lettered with a reason, and the
consumer lives: poison bodies and content headers, a body kombu would have inflated,
a republish the broker refuses, and a handler that commits nothing."""

import json
import re
import uuid
from datetime import UTC, datetime
from unittest import mock

import pytest
from sqlalchemy import select, text

from shared.contract import build, encode
from shared.messaging.amqp_client import BrokerAddress, ConfirmingPublisher
from shared.messaging.errors import TopologyMissing
from tests.services import recorder
from tests.services.recorder import TABLES, Alpha
from tests.support.broker import get_messages, queue_depth, wait_for
from tests.support.raw_amqp import (
    RawPublisher,
    content_header,
    item_int,
    item_timestamp,
    nested_headers,
    table,
)

WORK_QUEUE = "alpha.probe.thing_happened"


def thing() -> dict:
    return {"thing_id": str(uuid.uuid4()), "amount_fen": 100, "happened_at": datetime.now(UTC)}


def body_of(payload: dict, type_: str = "thing_happened") -> bytes:
    return encode(build("probe", type_, payload, occurred_at=datetime.now(UTC)))


def dead_letters(world):
    return get_messages(world.amqp_uri, "alpha.dlq")


def assert_still_consuming(world):
    """The container lives: a valid event published after the poison is applied."""
    payload = thing()
    world.publisher.publish("thing_happened", payload)
    wait_for(lambda: world.effects("alpha").get(payload["thing_id"]), message="a later event")


def publish_raw(world, body: bytes, **properties) -> None:
    header = content_header(content_type="application/json", delivery_mode=2, **properties)
    with RawPublisher(world.amqp_uri) as publisher:
        publisher.publish("probe.events", "thing_happened", body, header)


def test_a_thousand_open_brackets_are_dead_lettered_and_the_consumer_lives(world):
    world.start(Alpha)
    world.publisher.publish_raw("probe.events", "thing_happened", b"[" * 1000, message_id="m-1")

    [letter] = wait_for(lambda: dead_letters(world), message="a dead letter")

    assert "nested deeper than 32 levels" in letter.headers["park-error"]
    assert letter.body == b"[" * 1000
    assert_still_consuming(world)


def test_a_body_over_the_size_limit_is_dead_lettered(world):
    world.start(Alpha)
    envelope = json.loads(body_of(thing()))
    envelope["payload"]["padding"] = "x" * (1024 * 1024)
    body = json.dumps(envelope).encode()
    world.publisher.publish_raw("probe.events", "thing_happened", body, message_id="m-1")

    [letter] = wait_for(lambda: dead_letters(world), message="a dead letter")

    assert "more than the 1048576 allowed" in letter.headers["park-error"]
    assert letter.body == body
    assert_still_consuming(world)


def test_invalid_text_is_dead_lettered_at_once_not_retried(world):
    world.start(Alpha)
    payload = {"thing_id": str(uuid.uuid4()), "fail_times": 0}
    envelope = json.loads(body_of(payload, "flaky_thing"))
    envelope["park_id"] = "park\x00"
    world.publisher.publish_raw(
        "probe.events", "flaky_thing", json.dumps(envelope).encode(), message_id="m-1"
    )

    [letter] = wait_for(lambda: dead_letters(world), message="a dead letter")

    assert "park_id: Must not contain a NUL character." in letter.headers["park-error"]
    assert letter.headers["park-attempts"] == 1


@pytest.mark.parametrize("name", ["message_id", "type", "app_id", "correlation_id"])
def test_a_property_that_is_not_utf8_is_dead_lettered_with_a_reason(world, name):
    world.start(Alpha)
    body = body_of(thing())
    publish_raw(world, body, **{name: b"bad-\xff\xfe"})

    [letter] = wait_for(lambda: dead_letters(world), message="a dead letter")

    assert letter.headers["park-error"] == f"property {name} is not valid UTF-8"
    assert letter.body == body
    assert name not in letter.properties  # the poison bytes are not published again
    assert_still_consuming(world)


@pytest.mark.parametrize("seconds", [2**62, 2**40])
def test_a_header_timestamp_out_of_range_is_dead_lettered_with_a_reason(world, seconds):
    world.start(Alpha)
    headers = table(("sent", item_timestamp(seconds)), ("n", item_int(1)))
    publish_raw(world, body_of(thing()), message_id="m-1", headers=headers)

    [letter] = wait_for(lambda: dead_letters(world), message="a dead letter")

    assert letter.headers["park-error"] == f"headers.sent: timestamp {seconds} is out of range"
    assert letter.headers["n"] == 1
    assert letter.properties["message_id"] == "m-1"
    assert_still_consuming(world)


def test_headers_nested_thousands_deep_are_dead_lettered_with_a_reason(world):
    world.start(Alpha)
    publish_raw(world, body_of(thing()), message_id="m-1", headers=nested_headers(3000))

    [letter] = wait_for(lambda: dead_letters(world), message="a dead letter")

    assert "nested deeper than 16 levels" in letter.headers["park-error"]
    assert_still_consuming(world)


def test_a_compression_header_does_not_make_the_consumer_inflate_or_drop_the_body(world):
    world.start(Alpha)
    payload = thing()
    world.publisher.publish_raw(
        "probe.events",
        "thing_happened",
        body_of(payload),
        message_id="m-1",
        headers={"compression": "application/x-gzip"},
    )

    wait_for(lambda: world.effects("alpha").get(payload["thing_id"]), message="the effect")
    assert dead_letters(world) == []


# -- a republish the broker refuses ------------------------------------------------------


def refuse_publishes_to(world, queue: str, how: str) -> None:
    """Make the broker refuse what is published to ``queue``'s exchange: ``nack`` (a
    queue of length 0 with reject-publish) or ``return`` (no queue: a mandatory publish
    comes back unroutable)."""
    connection = BrokerAddress.from_uri(world.amqp_uri).connect()
    try:
        channel = connection.channel()
        channel.queue_delete(queue)
        if how == "nack":
            channel.queue_declare(
                queue,
                durable=True,
                auto_delete=False,
                arguments={"x-max-length": 0, "x-overflow": "reject-publish"},
            )
            channel.queue_bind(queue, queue, "")
    finally:
        connection.close()


def restore(world, queue: str) -> None:
    [spec] = [q for q in world.topology.queues() if q.name == queue]
    connection = BrokerAddress.from_uri(world.amqp_uri).connect()
    try:
        channel = connection.channel()
        channel.queue_delete(queue)
        channel.queue_declare(queue, durable=True, auto_delete=False, arguments=spec.arguments)
        channel.queue_bind(queue, queue, "")
    finally:
        connection.close()


@pytest.fixture
def republish_attempts():
    """Counts the consumer's attempts to publish a retry copy."""
    attempts = []
    original = ConfirmingPublisher.publish

    def counting(self, messages):
        attempts.extend(m for m in messages if m.exchange.startswith("alpha.retry."))
        return original(self, messages)

    with mock.patch.object(ConfirmingPublisher, "publish", counting):
        yield attempts


@pytest.mark.parametrize("how", ["nack", "return"])
def test_a_refused_republish_is_retried_with_back_off_without_rerunning_the_handler(
    world, republish_attempts, how
):
    refuse_publishes_to(world, "alpha.retry.1s", how)
    world.start(Alpha)
    thing_id = str(uuid.uuid4())
    world.publisher.publish("flaky_thing", {"thing_id": thing_id, "fail_times": 1})

    # The first try, then two more after 1 s and 2 s of back-off.
    wait_for(lambda: len(republish_attempts) >= 3, timeout=10, message="three republishes")
    assert recorder.failures[thing_id] == 1  # the handler ran once, not once per second
    assert queue_depth(world.amqp_uri, "alpha.probe.flaky_thing") == 0  # held, unacked

    restore(world, "alpha.retry.1s")

    wait_for(lambda: world.effects("alpha").get(thing_id), timeout=20, message="the effect")
    assert recorder.failures[thing_id] == 1
    assert world.effects("alpha") == {thing_id: 1}


def test_a_container_stops_promptly_while_a_republish_is_backing_off(world, republish_attempts):
    refuse_publishes_to(world, "alpha.retry.1s", "nack")
    container = world.start(Alpha)
    thing_id = str(uuid.uuid4())
    world.publisher.publish("flaky_thing", {"thing_id": thing_id, "fail_times": 1})
    wait_for(lambda: len(republish_attempts) >= 2, timeout=10, message="a retried republish")

    started = datetime.now(UTC)
    container.stop()

    assert (datetime.now(UTC) - started).total_seconds() < 5
    # Not acked: the broker has the message back for the next instance.
    wait_for(
        lambda: queue_depth(world.amqp_uri, "alpha.probe.flaky_thing") == 1,
        message="the message back in its queue",
    )


# -- a handler that commits nothing ------------------------------------------------------


def inbox_rows(world, event_id: str) -> int:
    with world.engine("alpha").connect() as connection:
        inbox = TABLES.inbox
        return len(connection.execute(select(inbox).where(inbox.c.event_id == event_id)).all())


def test_a_handler_that_commits_nothing_claims_its_inbox_row_before_the_ack(world):
    recorder.noted.clear()
    world.start(Alpha)
    inbox = TABLES.inbox.name
    with world.engine("alpha").begin() as connection:  # the claim will fail
        connection.execute(text(f"ALTER TABLE {inbox} RENAME TO {inbox}_away"))
    payload = {"thing_id": str(uuid.uuid4())}
    sent = world.publisher.publish("thing_noted", payload)

    wait_for(lambda: recorder.noted[payload["thing_id"]] == 1, message="the handler")
    # Not acked without a record: the failed claim sends it to the retry ladder.
    wait_for(
        lambda: (
            queue_depth(world.amqp_uri, "alpha.retry.1s")
            + queue_depth(world.amqp_uri, "alpha.probe.thing_noted")
            or recorder.noted[payload["thing_id"]] > 1
        ),
        message="the message kept for a retry",
    )
    with world.engine("alpha").begin() as connection:
        connection.execute(text(f"ALTER TABLE {inbox}_away RENAME TO {inbox}"))

    wait_for(lambda: inbox_rows(world, sent["event_id"]) == 1, timeout=20, message="the claim")
    assert dead_letters(world) == []
    assert_still_consuming(world)


def test_a_message_whose_copy_cannot_be_built_is_rejected_to_the_brokers_dead_letters(world):
    """The last resort (a bug of ours): reject without requeue; the work queue's
    dead-letter policy puts the message in the DLQ with x-death, and the consumer lives."""
    world.start(Alpha)
    with mock.patch("shared.messaging.consumer.copy_properties", side_effect=RuntimeError("a bug")):
        world.publisher.publish_raw("probe.events", "thing_happened", b"{", message_id="m-1")

        [letter] = wait_for(lambda: dead_letters(world), message="the broker's dead letter")

    [death] = letter.headers["x-death"]
    assert (death["queue"], death["reason"]) == (WORK_QUEUE, "rejected")
    assert letter.body == b"{"
    assert_still_consuming(world)


# -- start-up ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "entity, delete",
    [
        ("queue alpha.dlq", lambda channel: channel.queue_delete("alpha.dlq")),
        ("exchange alpha.retry.2s", lambda channel: channel.exchange_delete("alpha.retry.2s")),
    ],
)
def test_a_consumer_refuses_to_start_without_its_dlq_or_a_retry_exchange(world, entity, delete):
    connection = BrokerAddress.from_uri(world.amqp_uri).connect()
    try:
        delete(connection.channel())
    finally:
        connection.close()

    with pytest.raises(TopologyMissing, match=rf"{re.escape(entity)} does not exist") as caught:
        world.start(Alpha)
    assert "park topology declare" in str(caught.value)
