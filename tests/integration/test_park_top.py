"""``park top --once`` against a fresh vhost with the alpha and beta test services' topology.

The management API's queue counts are statistics refreshed every few seconds, so each test
first waits until the API reports what it set up, then runs the command once. No test
depends on rates.
"""

import uuid

import amqp
import pytest
import yaml
from typer.testing import CliRunner

from shared.messaging.amqp_client import BrokerAddress
from shared.messaging.management import ManagementClient
from shared.tooling.cli import app
from tests.services.recorder import Alpha, Beta
from tests.support.broker import wait_for

runner = CliRunner()
WORK_QUEUE = "alpha.probe.flaky_thing"


@pytest.fixture
def park(world, tmp_path):
    def invoke(*args: str, **config):
        topology = world.topology
        path = tmp_path / "config.yaml"
        described = {
            "services": list(topology.services),
            "sources": list(topology.sources),
            "subscriptions": [[s.service, s.source, s.type] for s in topology.subscriptions],
        }
        document = {"AMQP_URI": world.amqp_uri, **world.config, "TOPOLOGY": described, **config}
        path.write_text(yaml.safe_dump(document))
        return runner.invoke(app, ["top", *args, "--config", str(path)])

    return invoke


@pytest.fixture
def management(world):
    address = BrokerAddress.from_uri(world.amqp_uri)
    return ManagementClient.for_broker(None, address), address.vhost


def reported(management, queue: str, key: str, value: int) -> None:
    client, vhost = management
    wait_for(
        lambda: (client.queue_or_none(vhost, queue) or {}).get(key) == value,
        timeout=40,
        interval=0.5,
        message=f"the management API to report {key}={value} for {queue}",
    )


def put_a_dead_letter(amqp_uri: str) -> None:
    connection = BrokerAddress.from_uri(amqp_uri).connect()
    try:
        message = amqp.Message(b"{}", message_id=str(uuid.uuid4()), delivery_mode=2)
        connection.channel().basic_publish(message, exchange="", routing_key="alpha.dlq")
    finally:
        connection.close()


def row_of(output: str, queue: str) -> str:
    [row] = [line for line in output.splitlines() if f" {queue} " in line]
    return row


def test_a_work_queue_with_messages_and_no_consumer_is_flagged(world, park, management):
    for _ in range(3):
        world.publisher.publish("flaky_thing", {"thing_id": str(uuid.uuid4()), "fail_times": 0})
    reported(management, WORK_QUEUE, "messages_ready", 3)

    result = park("--once")

    assert result.exit_code == 3, result.output
    row = row_of(result.output, WORK_QUEUE)
    assert " 3 " in row and "no-consumer" in row
    assert f"{WORK_QUEUE}: no-consumer — no consumer: is its service running?" in result.output


def test_a_dead_letter_shows_in_its_services_dlq_depth_and_is_flagged(world, park, management):
    put_a_dead_letter(world.amqp_uri)
    reported(management, "alpha.dlq", "messages_ready", 1)

    result = park("--once")

    assert result.exit_code == 3, result.output
    assert "dead letters: alpha 1, beta 0" in result.output
    assert "alpha.dlq: dead-letters — 1 dead letter(s)" in result.output
    assert "park.unrouted: 0" in result.output


def test_a_park_with_every_service_consuming_and_nothing_dead_raises_no_flag(
    world, park, management
):
    world.start(Alpha)
    world.start(Beta)
    for subscription in world.topology.subscriptions:
        reported(management, subscription.queue, "consumers", 1)

    result = park("--once")

    assert result.exit_code == 0, result.output
    assert "no flags" in result.output


def test_an_unreachable_management_api_is_an_error_with_exit_1(world, park):
    result = park("--once", MANAGEMENT_URL="http://127.0.0.1:1")

    assert result.exit_code == 1, result.output
    assert "management API at http://127.0.0.1:1 is not reachable" in result.output
