import gc
import uuid
from datetime import UTC, datetime

import nameko
import pytest

from shared.messaging.errors import TopologyMissing
from tests.services.recorder import Alpha, Beta
from tests.support.broker import get_messages, wait_for


def thing(amount_fen: int = 1250) -> dict:
    return {
        "thing_id": str(uuid.uuid4()),
        "amount_fen": amount_fen,
        "happened_at": datetime.now(UTC),
    }


def test_an_event_crosses_two_services_with_its_correlation_id_intact(world):
    world.start(Alpha)
    world.start(Beta)
    payload = thing()
    sent = world.publisher.publish("thing_happened", payload, park_id="aux-shangjie")

    wait_for(lambda: world.effects("beta").get(payload["thing_id"]), message="beta's effect")

    with world.engine("beta").connect() as connection:
        row = connection.exec_driver_sql("SELECT correlation_id FROM effects").one()
    assert row.correlation_id == sent["correlation_id"]
    assert world.effects("alpha") == {payload["thing_id"]: 1}


def test_an_event_nobody_subscribes_to_lands_in_park_unrouted(world):
    payload = {"thing_id": str(uuid.uuid4())}
    sent = world.publisher.publish("thing_ignored", payload)

    kept = wait_for(lambda: get_messages(world.amqp_uri, "park.unrouted"), message="unrouted")

    assert [m.properties["message_id"] for m in kept] == [sent["event_id"]]


def test_events_published_before_the_consumer_first_starts_are_delivered(world):
    things = [thing() for _ in range(5)]
    for payload in things:
        world.publisher.publish("thing_happened", payload)

    world.start(Alpha)

    expected = {payload["thing_id"]: 1 for payload in things}
    wait_for(lambda: world.effects("alpha") == expected, message="all five effects")


def test_a_service_refuses_to_start_before_its_queues_are_declared(
    rabbit_config, make_database_url, container_factory
):
    with nameko.config.patch({"DATABASES": {"alpha": make_database_url("alpha", "sqlite")}}):
        container = container_factory(Alpha)
        with pytest.raises(TopologyMissing, match=r"queue alpha\.probe\.\w+ does not exist"):
            container.start()


def test_a_started_service_keeps_its_start_up_heap_out_of_the_collectors_way(world):
    world.start(Alpha)

    # Frozen once per process (the first service started in it): full collections then
    # walk only what was made since (shared/messaging/dependencies.py).
    assert gc.get_freeze_count() > 10_000
