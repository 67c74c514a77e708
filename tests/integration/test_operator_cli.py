import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from shared.contract.fields import utc_iso
from shared.messaging.amqp_client import BrokerAddress
from shared.tooling.cli import app
from tests.services.recorder import Alpha, Beta
from tests.support.broker import as_user, get_messages, queue_depth, wait_for

runner = CliRunner()


def topology_of(world) -> dict:
    """The test services' topology, for the CLI (replay checks a letter's queue in it)."""
    topology = world.topology
    return {
        "TOPOLOGY": {
            "services": list(topology.services),
            "sources": list(topology.sources),
            "subscriptions": [[s.service, s.source, s.type] for s in topology.subscriptions],
        }
    }


@pytest.fixture
def park(world, tmp_path):
    """Run the ``park`` CLI against this test's vhost."""
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump({"AMQP_URI": world.amqp_uri, **world.config, **topology_of(world)})
    )

    def invoke(*args: str):
        return runner.invoke(app, [*args, "--config", str(config)])

    return invoke


def dead_letter_a_flaky_thing(world, fail_times: int) -> str:
    thing_id = str(uuid.uuid4())
    world.publisher.publish("flaky_thing", {"thing_id": thing_id, "fail_times": fail_times})
    wait_for(
        lambda: queue_depth(world.amqp_uri, "alpha.dlq") == 1, timeout=20, message="the dead letter"
    )
    return thing_id


def test_dlq_list_shows_the_reason_and_leaves_the_letter_in_place(world, park):
    world.start(Alpha)
    dead_letter_a_flaky_thing(world, fail_times=-1)

    result = park("dlq", "list", "alpha")

    assert result.exit_code == 0, result.output
    assert "alpha.probe.flaky_thing" in result.output
    assert "TransientFailure" in result.output
    assert queue_depth(world.amqp_uri, "alpha.dlq") == 1


def test_a_replayed_dead_letter_goes_back_to_its_queue_and_is_applied_once(world, park):
    world.start(Alpha)
    thing_id = dead_letter_a_flaky_thing(world, fail_times=3)  # 3 failures exhaust (1, 2)
    [letter] = get_messages(world.amqp_uri, "alpha.dlq", ack=False)
    event_id = letter.properties["message_id"]

    result = park("dlq", "replay", "alpha", "--event-id", event_id)

    assert result.exit_code == 0, result.output
    assert "replayed 1, refused 0" in result.output
    wait_for(lambda: world.effects("alpha").get(thing_id), message="the replayed effect")
    assert world.effects("alpha") == {thing_id: 1}
    assert queue_depth(world.amqp_uri, "alpha.dlq") == 0


def test_a_dead_letter_older_than_the_replay_window_is_refused(world, park):
    failed_at = utc_iso(datetime.now(UTC) - timedelta(days=31))
    world.publisher.publish_raw(
        "",
        "alpha.dlq",
        b"{}",
        message_id="old-1",
        user_id="guest",
        headers={
            "park-original-queue": "alpha.probe.thing_happened",
            "park-failed-at": failed_at,
            "park-error": "long ago",
        },
    )

    result = park("dlq", "replay", "alpha", "--all")

    assert result.exit_code == 1
    assert "older than the 30-day replay window" in result.output
    assert queue_depth(world.amqp_uri, "alpha.dlq") == 1
    assert queue_depth(world.amqp_uri, "alpha.probe.thing_happened") == 0


def test_dlq_purge_discards_only_the_chosen_letter(world, park):
    for message_id in ("keep-me", "drop-me"):
        world.publisher.publish_raw("", "alpha.dlq", b"{}", message_id=message_id)

    result = park("dlq", "purge", "alpha", "--event-id", "drop-me")

    assert "purged 1" in result.output
    assert [m.properties["message_id"] for m in get_messages(world.amqp_uri, "alpha.dlq")] == [
        "keep-me"
    ]


def test_publish_refuses_a_payload_that_breaks_the_contract(world, park):
    payload = json.dumps(
        {"thing_id": str(uuid.uuid4()), "amount_fen": 1.5, "happened_at": "2026-11-27T05:40:00Z"}
    )

    result = park("publish", "probe", "thing_happened", payload)

    assert result.exit_code == 1
    assert "amount_fen" in result.output


def test_publish_sends_a_valid_event(world, park):
    world.start(Alpha)
    thing_id = str(uuid.uuid4())
    payload = json.dumps(
        {"thing_id": thing_id, "amount_fen": 150, "happened_at": "2026-11-27T05:40:00Z"}
    )

    result = park("publish", "probe", "thing_happened", payload, "--park-id", "aux-shangjie")

    assert result.exit_code == 0, result.output
    wait_for(lambda: world.effects("alpha").get(thing_id), message="the effect")


def test_check_says_how_to_start_an_unreachable_broker(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("AMQP_URI: pyamqp://guest:guest@127.0.0.1:5999/\n")

    result = runner.invoke(app, ["check", "--config", str(config)])

    assert result.exit_code == 1
    assert "RabbitMQ is not reachable" in result.output
    assert "rabbitmq-server -detached" in result.output


def test_trace_follows_a_flow_across_services_and_into_the_dead_letters(world, park):
    world.start(Alpha)
    world.start(Beta)
    thing_id = str(uuid.uuid4())
    sent = world.publisher.publish(
        "thing_happened",
        {"thing_id": thing_id, "amount_fen": 150, "happened_at": "2026-11-27T05:40:00Z"},
    )
    wait_for(lambda: world.effects("beta").get(thing_id), message="beta's effect")
    failing = world.publisher.publish(
        "flaky_thing",
        {"thing_id": str(uuid.uuid4()), "fail_times": -1},
        correlation_id=sent["correlation_id"],
    )
    wait_for(
        lambda: queue_depth(world.amqp_uri, "alpha.dlq") == 1, timeout=20, message="the dead letter"
    )

    result = park("trace", sent["correlation_id"])

    assert result.exit_code == 0, result.output
    assert "thing_recorded" in result.output
    assert sent["event_id"] in result.output  # alpha's event names its cause
    assert f"dead letter in alpha.dlq: {failing['event_id']}" in result.output


def test_trace_says_when_it_finds_nothing(world, park):
    result = park("trace", str(uuid.uuid4()))

    assert result.exit_code == 1
    assert "nothing found" in result.output


# park parks …: onboarding's commands, found through the park.commands entry point.

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def parks_cli(make_database_url, tmp_path):
    """``park parks …`` against a fresh onboarding database and a copy of the park files."""
    import shutil

    from shared.tooling.migrate import upgrade

    url = make_database_url("onboarding")
    upgrade(url, ROOT / "services" / "onboarding" / "migrations")
    directory = tmp_path / "parks"
    shutil.copytree(ROOT / "deploy" / "parks", directory)
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"DATABASES": {"onboarding": url}}))

    def invoke(*args: str):
        return runner.invoke(app, ["parks", *args, str(directory), "--config", str(config)])

    invoke.directory = directory
    invoke.database_url = url
    return invoke


def _sell_s08(parks_cli) -> None:
    from sqlalchemy import create_engine, text

    from shared.db import normalise_url

    engine = create_engine(normalise_url(parks_cli.database_url))
    with engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE units SET status = 'sold', holder = 'enterprise-1', "
                "contract_id = 'contract-1' WHERE park_id = 'aux-shangjie' AND unit_id = 'S08'"
            )
        )
    engine.dispose()


def test_parks_load_loads_every_park_and_a_second_load_changes_nothing(parks_cli):
    first = parks_cli("load")
    assert first.exit_code == 0, first.output
    assert "aux-shangjie: 440 units; 440 added, 0 changed, 0 removed" in first.output
    assert "shangjie-equipment: 77 units; 77 added" in first.output

    second = parks_cli("load")
    assert "aux-shangjie: 440 units; 0 added, 0 changed, 0 removed" in second.output


def test_parks_load_reads_the_shipped_park_files_by_default(parks_cli, tmp_path):
    config = tmp_path / "config.yaml"
    result = runner.invoke(app, ["parks", "load", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "aux-shangjie: 440 units" in result.output


def test_parks_load_refuses_a_file_that_would_remove_a_sold_unit(parks_cli):
    parks_cli("load")
    demo = parks_cli.directory / "aux-shangjie.yaml"
    demo.write_text(demo.read_text("utf-8").replace("ids: S01..S08", "ids: S01..S07"), "utf-8")
    _sell_s08(parks_cli)

    result = parks_cli("load")

    assert result.exit_code == 1
    assert "S08 is sold: the file no longer lists it" in result.output


def test_parks_load_reports_a_bad_file_with_its_line_and_field(parks_cli):
    demo = parks_cli.directory / "aux-shangjie.yaml"
    demo.write_text(demo.read_text("utf-8").replace("onboarding:", "policy:"), "utf-8")

    result = parks_cli("load")

    assert result.exit_code == 1
    assert "aux-shangjie.yaml:" in result.output and "policy: unknown section" in result.output


def dead_letter_by_delivery_limit(world, limit: int = 20) -> dict:
    """A message alpha's consumer keeps giving back, until the broker dead-letters it."""
    sent = world.publisher.publish(
        "thing_happened",
        {"thing_id": str(uuid.uuid4()), "amount_fen": 7, "happened_at": "2026-11-27T05:40:00Z"},
    )
    connection = BrokerAddress.from_uri(world.amqp_uri).connect()
    try:
        channel = connection.channel()
        for _ in range(limit + 1):
            message = wait_for(lambda: channel.basic_get("alpha.probe.thing_happened"))
            channel.basic_reject(message.delivery_tag, requeue=True)
    finally:
        connection.close()
    wait_for(lambda: queue_depth(world.amqp_uri, "alpha.dlq") == 1, message="the broker's letter")
    return sent


def test_a_letter_the_broker_dead_lettered_is_listed_with_its_queue_and_reason(world, park):
    sent = dead_letter_by_delivery_limit(world)

    result = park("dlq", "list", "alpha")

    assert result.exit_code == 0, result.output
    [row] = [line for line in result.output.splitlines() if sent["event_id"] in line]
    assert "alpha.probe.thing_happened" in row
    assert "broker" in row
    assert "delivery_limit" in row


def test_a_letter_the_broker_dead_lettered_is_shown_with_its_x_death(world, park):
    sent = dead_letter_by_delivery_limit(world)

    result = park("dlq", "show", "alpha", sent["event_id"])

    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["headers"]["x-death"][0]["reason"] == "delivery_limit"
    assert shown["dead_lettered_by"] == "broker"


def test_a_letter_the_broker_dead_lettered_is_replayed_once_with_its_verified_sender(world, park):
    sent = dead_letter_by_delivery_limit(world)
    thing_id = json.loads(get_messages(world.amqp_uri, "alpha.dlq", ack=False)[0].body)["payload"][
        "thing_id"
    ]

    result = park("dlq", "replay", "alpha", "--event-id", sent["event_id"])

    assert result.exit_code == 0, result.output
    assert "replayed 1, refused 0" in result.output
    world.start(Alpha)
    wait_for(lambda: world.effects("alpha").get(thing_id), message="the replayed effect")
    assert world.effects("alpha") == {thing_id: 1}
    assert queue_depth(world.amqp_uri, "alpha.dlq") == 0


def test_listing_a_dlq_many_times_keeps_every_letter(world, park):
    dead_letter_by_delivery_limit(world)
    world.publisher.publish_raw("", "alpha.dlq", b"{}", message_id="second", user_id="guest")

    for _ in range(25):
        result = park("dlq", "list", "alpha")
        assert result.exit_code == 0, result.output

    assert queue_depth(world.amqp_uri, "alpha.dlq") == 2


def test_a_dlq_that_does_not_exist_is_named_with_the_fix(world, park):
    result = park("dlq", "list", "gamma")

    assert result.exit_code == 1
    assert "gamma.dlq does not exist" in result.output
    assert "park topology declare" in result.output


def test_topology_show_lists_the_policies_with_the_configured_delivery_limit(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("DELIVERY_LIMIT: 7\n")

    result = runner.invoke(app, ["topology", "show", "--config", str(config)])

    assert result.exit_code == 0, result.output
    [row] = [line for line in result.output.splitlines() if "park-work-queues-billing" in line]
    assert '"delivery-limit": 7' in row
    assert '"dead-letter-routing-key": "billing.dlq"' in row


# -- park.unrouted -----------------------------------------------------------------------


def publish_unrouted(world, routing_key: bytes, message_id: str) -> None:
    """As the probe system, an event on probe.events that no binding takes: the alternate
    exchange sends it to park.unrouted. The routing key may be any bytes."""
    from tests.support.broker import as_user
    from tests.support.raw_amqp import RawPublisher, content_header

    header = content_header(message_id=message_id, app_id="probe", type="nobody_wants_it")
    with RawPublisher(as_user(world.amqp_uri, "probe")) as publisher:
        publisher.publish("probe.events", routing_key, b"{}", header)


def test_unrouted_list_and_purge_all_get_past_a_routing_key_that_is_not_utf8(world, park):
    publish_unrouted(world, b"\xff-key", "poison-1")
    publish_unrouted(world, b"nobody_wants_it", "plain-1")
    wait_for(lambda: queue_depth(world.amqp_uri, "park.unrouted") == 2, message="two unrouted")

    listed = park("unrouted", "list")

    assert listed.exit_code == 0, listed.output
    assert "poison-1" in listed.output and "plain-1" in listed.output
    assert queue_depth(world.amqp_uri, "park.unrouted") == 2  # listing keeps them

    purged = park("unrouted", "purge", "--all")

    assert purged.exit_code == 0, purged.output
    assert "purged 2" in purged.output
    assert queue_depth(world.amqp_uri, "park.unrouted") == 0


def test_a_letter_whose_routing_key_is_not_utf8_names_why_it_cannot_be_read(world):
    from shared.messaging.dead_letters import LetterQueue

    publish_unrouted(world, "\ud800".encode("utf-8", "surrogatepass"), "poison-2")
    wait_for(lambda: queue_depth(world.amqp_uri, "park.unrouted") == 1, message="the letter")

    [letter] = LetterQueue(BrokerAddress.from_uri(world.amqp_uri), "park.unrouted").peek()

    assert letter.event_id == "poison-2"
    assert letter.unreadable == "routing_key is not valid UTF-8"


def test_trace_reads_the_dead_letters_as_park_cli(world, tmp_path):
    # AMQP_URI's user here (the probe ingress user) may read no queue: park-cli can.
    world.start(Alpha)
    payload = {"thing_id": str(uuid.uuid4()), "fail_times": -1}
    failing = world.publisher.publish("flaky_thing", payload)
    wait_for(
        lambda: queue_depth(world.amqp_uri, "alpha.dlq") == 1, timeout=20, message="the dead letter"
    )
    config = tmp_path / "as-probe.yaml"
    document = {"AMQP_URI": as_user(world.amqp_uri, "probe"), **world.config, **topology_of(world)}
    config.write_text(yaml.safe_dump(document))

    result = runner.invoke(app, ["trace", failing["correlation_id"], "--config", str(config)])

    assert result.exit_code == 0, result.output
    assert f"dead letter in alpha.dlq: {failing['event_id']}" in result.output
