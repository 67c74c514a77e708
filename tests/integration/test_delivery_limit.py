"""The broker's own net: a work queue dead-letters a message delivered too often."""

import nameko
import pytest

from shared.messaging.amqp_client import BrokerAddress
from shared.messaging.declare import declare_topology
from shared.messaging.publisher import EventPublisher
from shared.messaging.topology import build_topology
from tests.support.broker import get_messages, queue_depth, wait_for

WORK_QUEUE = "alpha.probe.thing_happened"
PAYLOAD = {"thing_id": "8b9d7f3e-4a55-4c1f-9a57-2f0c1f7a9e11", "amount_fen": 1}


def declare(uri: str, delivery_limit: int) -> None:
    topology = build_topology(
        [("alpha", "probe", "thing_happened")],
        services=("alpha",),
        sources=("probe",),
        retry_delays=(1,),
        delivery_limit=delivery_limit,
    )
    declare_topology(topology, uri)


@pytest.fixture
def uri(rabbit_config):
    return nameko.config["AMQP_URI"]


def publish_one(uri: str) -> dict:
    with EventPublisher(uri, "probe") as probe:
        return probe.publish("thing_happened", {**PAYLOAD, "happened_at": "2026-11-27T05:40:00Z"})


def deliver_and_requeue(uri: str, queue: str) -> bool:
    """One delivery that the consumer gives back (as a crashing consumer would)."""
    connection = BrokerAddress.from_uri(uri).connect()
    try:
        channel = connection.channel()
        message = channel.basic_get(queue)
        if message is None:
            return False
        channel.basic_reject(message.delivery_tag, requeue=True)
        return True
    finally:
        connection.close()


def returns_until_dead_lettered(uri: str, limit: int) -> int:
    deliveries = 0
    while deliver_and_requeue(uri, WORK_QUEUE):
        deliveries += 1
        assert deliveries <= limit + 1, "the broker did not dead-letter the message"
    return deliveries


def test_a_message_delivered_past_the_limit_lands_in_the_dlq_with_x_death(uri):
    declare(uri, delivery_limit=3)
    sent = publish_one(uri)

    deliveries = returns_until_dead_lettered(uri, 3)

    assert deliveries == 4  # the limit counts returns: the fourth return dead-letters it
    wait_for(lambda: queue_depth(uri, "alpha.dlq") == 1, message="the broker's dead letter")
    [letter] = get_messages(uri, "alpha.dlq")
    death = letter.headers["x-death"][0]
    assert (death["queue"], death["reason"]) == (WORK_QUEUE, "delivery_limit")
    assert letter.properties["message_id"] == sent["event_id"]
    assert letter.properties["user_id"] == "guest"  # the original publisher, verified


def test_redeclaring_changes_the_limit_of_queues_that_already_exist(uri):
    declare(uri, delivery_limit=10)
    declare(uri, delivery_limit=1)  # no 406 inequivalent arg: it is a policy
    publish_one(uri)

    assert returns_until_dead_lettered(uri, 1) == 2
    wait_for(lambda: queue_depth(uri, "alpha.dlq") == 1, message="the broker's dead letter")


def test_reading_the_dlq_again_and_again_never_drops_a_letter(uri):
    declare(uri, delivery_limit=1)
    publish_one(uri)
    returns_until_dead_lettered(uri, 1)
    wait_for(lambda: queue_depth(uri, "alpha.dlq") == 1, message="the broker's dead letter")

    for _ in range(25):
        assert deliver_and_requeue(uri, "alpha.dlq")

    assert queue_depth(uri, "alpha.dlq") == 1
