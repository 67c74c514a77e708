"""``park dlq replay`` refuses what it must, keeps what it refuses, and goes on."""

import uuid
from datetime import UTC, datetime

import pytest
import yaml

from shared.contract.fields import utc_iso
from shared.messaging.amqp_client import BrokerAddress
from shared.messaging.management import ManagementClient
from shared.messaging.publisher import EventPublisher
from shared.tooling.cli import app
from tests.integration.test_operator_cli import runner, topology_of
from tests.support.broker import get_messages, queue_depth, wait_for
from tests.support.raw_amqp import (
    RawPublisher,
    content_header,
    item_string,
    item_timestamp,
    table,
)


@pytest.fixture
def park(world, tmp_path):
    """Run the ``park`` CLI against this test's vhost and the test services' topology."""
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump({"AMQP_URI": world.amqp_uri, **world.config, **topology_of(world)})
    )
    return lambda *args: runner.invoke(app, [*args, "--config", str(config)])


@pytest.fixture
def portal(world):
    """Another broker user (an ingress system) that may write anywhere in this vhost."""
    address = BrokerAddress.from_uri(world.amqp_uri)
    management = ManagementClient.for_broker(None, address)
    user = f"portal-{uuid.uuid4().hex[:6]}"
    management.put_user(user, "secret")
    management.set_permissions(address.vhost, user, configure="^$", write=".*", read="^$")
    yield f"pyamqp://{user}:secret@{address.host}:{address.port}/{address.vhost}", user
    management.delete_user(user)


def put_letter(world, message_id, queue, *, user_id="guest", failed_at=None, uri=None):
    """A dead letter in alpha.dlq as alpha's consumer writes them (or a forgery of one)."""
    properties = {"message_id": message_id}
    if user_id:
        properties["user_id"] = user_id
    headers = {
        "park-original-queue": queue,
        "park-failed-at": failed_at or utc_iso(datetime.now(UTC)),
        "park-error": "simulated",
    }
    with EventPublisher(uri or world.amqp_uri, "probe", sign_as_user=False) as publisher:
        publisher.publish_raw("", "alpha.dlq", b"{}", headers=headers, **properties)


def letters_left(world) -> list[str]:
    letters = get_messages(world.amqp_uri, "alpha.dlq", ack=False)
    return [m.properties["message_id"] for m in letters]


def test_a_replay_to_a_queue_that_no_longer_exists_is_refused_and_the_letter_kept(world, park):
    put_letter(world, "orphan", "alpha.probe.flaky_thing")
    connection = BrokerAddress.from_uri(world.amqp_uri).connect()
    connection.channel().queue_delete("alpha.probe.flaky_thing")
    connection.close()

    result = park("dlq", "replay", "alpha", "--all")

    assert result.exit_code == 1
    assert "replayed 0, refused 1" in result.output
    assert "does not exist" in result.output
    assert letters_left(world) == ["orphan"]


def test_a_letter_naming_another_services_queue_is_refused(world, park):
    put_letter(world, "elsewhere", "beta.alpha.thing_recorded")

    result = park("dlq", "replay", "alpha", "--all")

    assert result.exit_code == 1
    assert "not one of this service's work queues" in result.output
    assert queue_depth(world.amqp_uri, "beta.alpha.thing_recorded") == 0
    assert letters_left(world) == ["elsewhere"]


def test_an_unsigned_letter_is_refused(world, park):
    put_letter(world, "unsigned", "alpha.probe.thing_happened", user_id=None)

    result = park("dlq", "replay", "alpha", "--all")

    assert result.exit_code == 1
    assert "neither by the service nor dead-lettered by the broker" in result.output
    assert letters_left(world) == ["unsigned"]


def test_a_letter_forged_by_another_publisher_naming_a_work_queue_is_refused(world, park, portal):
    uri, user = portal
    put_letter(world, "forged", "alpha.probe.thing_happened", user_id=user, uri=uri)

    result = park("dlq", "replay", "alpha", "--all")

    assert result.exit_code == 1
    assert f"published by {user}" in result.output
    assert queue_depth(world.amqp_uri, "alpha.probe.thing_happened") == 0
    assert letters_left(world) == ["forged"]


def test_an_unreadable_failure_time_refuses_that_letter_and_replays_the_others(world, park):
    put_letter(world, "garbled", "alpha.probe.thing_happened", failed_at="last tuesday")
    put_letter(world, "fine", "alpha.probe.thing_happened")

    result = park("dlq", "replay", "alpha", "--all")

    assert result.exit_code == 1
    assert "replayed 1, refused 1" in result.output
    assert "park-failed-at is not a UTC time" in result.output
    assert letters_left(world) == ["garbled"]
    [replayed] = get_messages(world.amqp_uri, "alpha.probe.thing_happened")
    assert replayed.properties["message_id"] == "fine"


def test_replaying_an_event_id_that_is_not_there_says_so(world, park):
    put_letter(world, "present", "alpha.probe.thing_happened")

    result = park("dlq", "replay", "alpha", "--event-id", "absent")

    assert result.exit_code == 1
    assert "no dead letter with event id absent" in result.output
    assert letters_left(world) == ["present"]


def test_a_letter_whose_properties_cannot_be_decoded_is_listed_and_refused_not_a_crash(world, park):
    header = content_header(
        message_id=b"\xff\xfe-not-utf-8",
        user_id="guest",
        headers=table(
            ("park-original-queue", item_string("alpha.probe.thing_happened")),
            ("park-failed-at", item_string(utc_iso(datetime.now(UTC)))),
            ("when", item_timestamp(2**62)),
        ),
    )
    with RawPublisher(world.amqp_uri) as raw:
        raw.publish("", "alpha.dlq", b"{}", header)
    put_letter(world, "fine", "alpha.probe.thing_happened")

    listed = park("dlq", "list", "alpha")
    replayed = park("dlq", "replay", "alpha", "--all")

    assert listed.exit_code == 0, listed.output
    assert "cannot be read" in listed.output
    assert "replayed 1, refused 1" in replayed.output
    assert "cannot be read" in replayed.output
    assert queue_depth(world.amqp_uri, "alpha.dlq") == 1


def test_a_letter_the_broker_dead_lettered_without_a_user_id_is_refused(world, park):
    # Replayed as alpha, a message nobody signed would pass for alpha's own event.
    thing_id = str(uuid.uuid4())
    payload = {"thing_id": thing_id, "amount_fen": 7, "happened_at": "2026-11-27T05:40:00Z"}
    with EventPublisher(world.amqp_uri, "probe", sign_as_user=False) as anonymous:
        sent = anonymous.publish("thing_happened", payload)
    connection = BrokerAddress.from_uri(world.amqp_uri).connect()
    try:
        channel = connection.channel()
        for _ in range(21):  # the work queues' delivery limit is 20
            message = wait_for(lambda: channel.basic_get("alpha.probe.thing_happened"))
            channel.basic_reject(message.delivery_tag, requeue=True)
    finally:
        connection.close()
    wait_for(lambda: queue_depth(world.amqp_uri, "alpha.dlq") == 1, message="the broker's letter")

    result = park("dlq", "replay", "alpha", "--event-id", sent["event_id"])

    assert result.exit_code == 1
    assert "without a user_id" in result.output
    assert queue_depth(world.amqp_uri, "alpha.probe.thing_happened") == 0
    assert letters_left(world) == [sent["event_id"]]


def test_the_clis_own_user_is_not_taken_for_the_service(world, tmp_path):
    # Without SERVICE_USERS, alpha's user is "alpha": a letter guest wrote is not alpha's,
    # although the CLI itself connects as guest here.
    config = tmp_path / "no-service-users.yaml"
    settings = {k: v for k, v in world.config.items() if k != "SERVICE_USERS"}
    document = {"AMQP_URI": world.amqp_uri, **settings, **topology_of(world)}
    config.write_text(yaml.safe_dump(document))
    put_letter(world, "guests", "alpha.probe.thing_happened", user_id="guest")

    result = runner.invoke(app, ["dlq", "replay", "alpha", "--all", "--config", str(config)])

    assert result.exit_code == 1
    assert "published by guest, neither by the service" in result.output
    assert letters_left(world) == ["guests"]
