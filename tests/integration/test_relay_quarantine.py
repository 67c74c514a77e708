"""One outbox row that cannot be published must not stall its service's relay: the rows
after it flow, it is quarantined after N failures of its own (kept, shown by health and a
metric), and an operator's release publishes it once its cause is fixed."""

import json
import uuid
from datetime import UTC, datetime

import eventlet
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select
from typer.testing import CliRunner

from shared.contract import build, encode
from shared.db import Database
from shared.messaging.amqp_client import BrokerAddress, ConfirmingPublisher
from shared.messaging.errors import PublishFailed
from shared.messaging.outbox import Relay, RelayLoop, quarantined, stage
from shared.messaging.unit_of_work import UnitOfWork
from shared.tooling.cli import app
from shared.tooling.health import health_report
from tests.services.recorder import TABLES
from tests.support.broker import get_messages, wait_for

FORWARDED = "beta.alpha.thing_recorded"  # where alpha's thing_recorded events land
MISSING_EXCHANGE = "nowhere.events"
both_backends = pytest.mark.parametrize("world", ["postgresql", "sqlite"], indirect=True)


def clock():
    return datetime.now(UTC)


def stage_good(database, count=1):
    with UnitOfWork(database, TABLES, source="alpha", clock=clock) as uow:
        for _ in range(count):
            uow.emit(
                "thing_recorded",
                {"thing_id": str(uuid.uuid4()), "amount_fen": 5, "recorded_by": "alpha"},
            )
        uow.commit()


def stage_stuck(database) -> str:
    """A row bound for an exchange that does not exist: the broker refuses it (404)."""
    envelope = build(
        "alpha",
        "thing_recorded",
        {"thing_id": str(uuid.uuid4()), "amount_fen": 7, "recorded_by": "alpha"},
        occurred_at=clock(),
    )
    with database.transaction() as session:
        stage(
            session.connection(),
            TABLES.outbox,
            exchange=MISSING_EXCHANGE,
            routing_key="thing_recorded",
            envelope=envelope,
            body=encode(envelope),
            created_at=clock(),
        )
    return envelope["event_id"]


def make_relay(world, database, name, **options):
    publisher = ConfirmingPublisher(BrokerAddress.from_uri(world.amqp_uri))
    options = {"quarantine_after": 3, "retry_after": 0.05, **options}
    return Relay(database, TABLES.outbox, publisher, clock=clock, name=name, **options)


def row(database, event_id):
    with database.engine.connect() as connection:
        return connection.execute(
            select(TABLES.outbox).where(TABLES.outbox.c.event_id == event_id)
        ).one()


class Delivered:
    """Takes what reached a queue, keeping count across looks."""

    def __init__(self, amqp_uri, queue):
        self.amqp_uri, self.queue, self.ids = amqp_uri, queue, []

    def __call__(self) -> list[str]:
        self.ids += [m.properties["message_id"] for m in get_messages(self.amqp_uri, self.queue)]
        return self.ids


def quarantined_total(name) -> float:
    value = REGISTRY.get_sample_value("park_outbox_quarantined_total", {"service": name})
    return value or 0.0


@both_backends
def test_the_rows_after_a_stuck_row_are_published_at_once(world):
    database = Database(world.database_urls["alpha"])
    stage_good(database, 2)
    stuck = stage_stuck(database)
    stage_good(database, 2)
    relay = make_relay(world, database, f"quarantine-{uuid.uuid4().hex[:6]}")

    published = relay.relay_all()

    assert published == 4
    assert len(set(Delivered(world.amqp_uri, FORWARDED)())) == 4
    stuck_row = row(database, stuck)
    assert (stuck_row.sent_at, stuck_row.quarantined_at, stuck_row.failures) == (None, None, 1)
    assert MISSING_EXCHANGE in stuck_row.last_error
    database.dispose()


@both_backends
def test_a_stuck_row_is_quarantined_after_n_failures_shown_in_health_and_a_metric(world):
    database = Database(world.database_urls["alpha"])
    stuck = stage_stuck(database)
    stage_good(database, 3)
    name = f"quarantine-{uuid.uuid4().hex[:6]}"
    relay = make_relay(world, database, name)
    before = quarantined_total(name)

    wait_for(
        lambda: relay.relay_all() is not None and row(database, stuck).quarantined_at,
        timeout=10,
        message="the stuck row to be quarantined",
    )

    stuck_row = row(database, stuck)
    assert stuck_row.failures == 3 and stuck_row.sent_at is None
    assert quarantined_total(name) == before + 1
    health = health_report(UnitOfWork(database, TABLES, source="alpha", clock=clock))
    assert health["outbox_unsent"] == 0  # nothing left that the relay still tries
    assert health["outbox_quarantined"] == 1
    [shown] = health["quarantined"]
    assert (shown["event_id"], shown["failures"]) == (stuck, 3)
    assert MISSING_EXCHANGE in shown["last_error"]
    # Quarantined: the relay leaves it alone, however often it runs.
    assert relay.relay_all() == 0
    assert row(database, stuck).failures == 3
    database.dispose()


@both_backends
def test_a_released_row_is_published_once_its_cause_is_fixed(world, tmp_path):
    database = Database(world.database_urls["alpha"])
    stuck = stage_stuck(database)
    relay = make_relay(world, database, "quarantine-release", quarantine_after=1)
    assert relay.relay_all() == 0  # alone in its batch, but the broker refused this very row
    assert row(database, stuck).quarantined_at is not None
    config = tmp_path / "park.yaml"
    config.write_text(
        json.dumps({"AMQP_URI": world.amqp_uri, "DATABASES": world.database_urls}), "utf-8"
    )
    runner = CliRunner()
    listed = runner.invoke(app, ["outbox", "list", "alpha", "--config", str(config)])
    assert listed.exit_code == 0, listed.output
    assert stuck in listed.output and "1 quarantined" in listed.output

    # The cause is fixed: the exchange now exists (and something listens).
    connection = BrokerAddress.from_uri(world.amqp_uri).connect()
    channel = connection.channel()
    channel.exchange_declare(MISSING_EXCHANGE, "topic", durable=True, auto_delete=False)
    channel.queue_declare("nowhere.listener", durable=True, auto_delete=False)
    channel.queue_bind("nowhere.listener", MISSING_EXCHANGE, "#")
    connection.close()
    stuck_id = row(database, stuck).id
    released = runner.invoke(
        app, ["outbox", "release", "alpha", "--id", str(stuck_id), "--config", str(config)]
    )
    assert released.exit_code == 0, released.output
    assert f"released 1: {stuck_id}" in released.output

    assert relay.relay_all() == 1

    assert Delivered(world.amqp_uri, "nowhere.listener")() == [stuck]
    stuck_row = row(database, stuck)
    assert stuck_row.sent_at is not None and stuck_row.quarantined_at is None
    again = runner.invoke(
        app, ["outbox", "release", "alpha", "--id", str(stuck_id), "--config", str(config)]
    )
    assert again.exit_code == 1 and "not quarantined" in again.output
    database.dispose()


@both_backends
def test_an_unreachable_broker_blames_no_row(world):
    database = Database(world.database_urls["alpha"])
    stage_good(database, 3)
    nowhere = ConfirmingPublisher(BrokerAddress.from_uri("amqp://guest:guest@127.0.0.1:1/"))
    relay = Relay(database, TABLES.outbox, nowhere, clock=clock, quarantine_after=1)

    for _ in range(3):
        with pytest.raises(PublishFailed):
            relay.relay_all()

    with database.engine.connect() as connection:
        rows = connection.execute(select(TABLES.outbox)).all()
        assert quarantined(connection, TABLES.outbox) == []
    assert [(r.failures, r.sent_at) for r in rows] == [(0, None)] * 3
    database.dispose()


def test_the_running_relay_loop_keeps_publishing_behind_a_stuck_row(world):
    database = Database(world.database_urls["alpha"])
    stage_stuck(database)
    relay = make_relay(world, database, "quarantine-loop", quarantine_after=1000)
    loop = RelayLoop(relay, poll_interval=0.1)
    runner = eventlet.spawn(loop.run)
    delivered = Delivered(world.amqp_uri, FORWARDED)
    try:
        for round_ in range(1, 4):  # new rows keep coming while the stuck one keeps failing
            stage_good(database, 2)
            loop.nudge()
            wait_for(lambda n=round_: len(delivered()) >= 2 * n, timeout=5, message="rows")
    finally:
        loop.stop()
        runner.wait()
    assert len(set(delivered.ids)) == 6
    database.dispose()


def test_a_row_the_broker_returns_as_unroutable_is_quarantined_too(world):
    # ticketing.work has no alternate exchange (DESIGN §5): work for a firm whose queue
    # does not exist yet comes back (mandatory) instead of being confirmed and lost.
    database = Database(world.database_urls["alpha"])
    envelope = build(
        "alpha",
        "thing_recorded",
        {"thing_id": str(uuid.uuid4()), "amount_fen": 1, "recorded_by": "alpha"},
        occurred_at=clock(),
    )
    with database.transaction() as session:
        stage(
            session.connection(),
            TABLES.outbox,
            exchange="ticketing.work",
            routing_key="law-01",
            envelope=envelope,
            body=encode(envelope),
            created_at=clock(),
        )
    stage_good(database, 2)
    relay = make_relay(world, database, "quarantine-returned", quarantine_after=1)

    assert relay.relay_all() == 2

    returned = row(database, envelope["event_id"])
    assert returned.quarantined_at is not None and returned.sent_at is None
    assert "Unroutable" in returned.last_error
    database.dispose()


def test_two_relays_on_postgresql_share_the_rows_around_a_stuck_one(world):
    database = Database(world.database_urls["alpha"])
    stage_good(database, 150)
    stuck = stage_stuck(database)
    stage_good(database, 150)
    relays = [
        make_relay(world, database, "quarantine-pair", batch_size=50, quarantine_after=2)
        for _ in range(2)
    ]
    delivered = Delivered(world.amqp_uri, FORWARDED)

    def both_pass():
        eventlet.spawn(relays[0].relay_all).wait(), eventlet.spawn(relays[1].relay_all).wait()
        with database.engine.connect() as connection:
            unsent = connection.execute(
                select(TABLES.outbox.c.id).where(
                    TABLES.outbox.c.sent_at.is_(None), TABLES.outbox.c.quarantined_at.is_(None)
                )
            ).all()
        return not unsent and row(database, stuck).quarantined_at

    wait_for(both_pass, timeout=15, message="every good row sent, the stuck one quarantined")

    # Each good row reached the queue; rows of a batch that failed may have gone twice
    # (as after a crash between publish and mark-sent): the consumers' inboxes absorb it.
    assert len(set(delivered())) == 300
    assert row(database, stuck).failures == 2
    database.dispose()
