"""Two copies of one event in flight at once on PostgreSQL (prefetch > 1, several
workers): the inbox claim lets one apply it; the other waits, sees the claim, is acked."""

import uuid
from datetime import UTC, datetime

import nameko

from shared.contract import build
from shared.messaging.amqp_client import BrokerAddress, ConfirmingPublisher
from shared.messaging.management import ManagementClient
from shared.messaging.publisher import message_for
from tests.services import recorder
from tests.services.recorder import Alpha
from tests.support.broker import get_messages, wait_for


def unacked(world, queue: str) -> int:
    address = BrokerAddress.from_uri(world.amqp_uri)
    info = ManagementClient.for_broker(None, address).queue(address.vhost, queue)
    return info.get("messages_unacknowledged", 0) + info.get("messages_ready", 0)


def test_two_copies_of_one_event_in_flight_at_once_have_one_effect(world):
    recorder.running.update(now=0, most=0)
    with nameko.config.patch({"PREFETCH_COUNT": 10}):
        world.start(Alpha)
    thing_id = str(uuid.uuid4())
    envelope = build(
        "probe",
        "slow_thing",
        {"thing_id": thing_id, "pause_ms": 500},
        occurred_at=datetime.now(UTC),
    )
    copy = message_for(envelope)

    ConfirmingPublisher(BrokerAddress.from_uri(world.amqp_uri)).publish([copy, copy])

    wait_for(lambda: world.effects("alpha").get(thing_id), message="the effect")
    wait_for(lambda: unacked(world, "alpha.probe.slow_thing") == 0, timeout=20, message="acks")
    assert recorder.running["most"] == 2  # both handlers were in their transaction at once
    assert world.effects("alpha") == {thing_id: 1}
    assert get_messages(world.amqp_uri, "alpha.dlq") == []
