"""Batched units of work (``@handle_events``, ``shared/messaging/batch.py``) on real
databases and a real broker: one transaction per batch, duplicates dropped, a failed
batch applied again one message at a time, and acks that never ack another's message."""

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import eventlet
import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import func, insert, select

from shared.contract import Event
from shared.db import Database
from shared.messaging.batch import (
    BatchAbandoned,
    _BatchConsumer,
    apply_batch,
    batched,
    claim_inbox_many,
    handle_events,
)
from shared.messaging.dependencies import LogContext, UnitOfWorkProvider
from shared.messaging.errors import DuplicateEvent, PermanentFailure
from shared.messaging.unit_of_work import UnitOfWork
from shared.metrics import EVENTS
from shared.tooling.migrate import upgrade
from tests.services import recorder
from tests.services.recorder import TABLES
from tests.support.broker import get_messages, queue_depth, wait_for

MIGRATIONS = Path(__file__).parents[1] / "services" / "migrations"
QUEUE = "alpha.probe.thing_happened"
RECORD_EFFECT = insert(recorder.effects)
BAD_AMOUNT = 13  # BatchedAlpha refuses a thing of this amount, for good
SLOW_AMOUNT = 7  # BatchedAlpha holds the transaction of a thing of this amount open a while
PAUSED_AMOUNT = 8  # … and of this amount a little (20 ms)


def thing_event(amount_fen: int = 100, event_id: str | None = None) -> Event:
    return Event(
        event_id=event_id or str(uuid.uuid4()),
        type="thing_happened",
        source="probe",
        version=1,
        occurred_at=datetime.now(UTC),
        correlation_id=str(uuid.uuid4()),
        causation_id=None,
        park_id="aux-shangjie",
        payload={"thing_id": str(uuid.uuid4()), "amount_fen": amount_fen},
    )


# -- the unit of work of a batch, on both databases ---------------------------------------


@pytest.fixture
def database(make_database_url, backend):
    url = make_database_url("batch", backend)
    upgrade(url, MIGRATIONS)
    database = Database(url)
    yield database
    database.dispose()


def batch_unit(database, events):
    unit = batched(UnitOfWork)(database, TABLES, source="alpha", clock=lambda: datetime.now(UTC))
    unit.expect_batch(QUEUE, events)
    return unit


class FakeService:
    """What nameko hands the handler: a service instance with its unit of work."""

    def __init__(self, uow):
        self.uow = uow


def forward(service, event) -> None:
    """A handler written for @handle_event: record, emit, commit."""
    with service.uow as uow:
        recorder.record(uow, event, event.payload["amount_fen"])
        uow.emit(
            "thing_recorded",
            {
                "thing_id": event.payload["thing_id"],
                "amount_fen": event.payload["amount_fen"],
                "recorded_by": "alpha",
            },
        )
        uow.commit()


def outbox_bodies(database) -> list[dict]:
    with database.engine.connect() as connection:
        bodies = connection.scalars(select(TABLES.outbox.c.body).order_by(TABLES.outbox.c.id))
        return [json.loads(body) for body in bodies]


def inbox_ids(database) -> set[str]:
    with database.engine.connect() as connection:
        return set(connection.scalars(select(TABLES.inbox.c.event_id)))


def effect_event_ids(database) -> list[str]:
    with database.engine.connect() as connection:
        return list(connection.scalars(select(recorder.effects.c.event_id)))


class Statements:
    """The INSERT statements the database receives (one per execute or executemany)."""

    def __init__(self, engine):
        self.inserts: list[str] = []
        self.engine = engine
        sa_event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, connection, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("INSERT"):
            self.inserts.append(statement.split("(")[0].split()[-1].strip('"'))

    def close(self):
        sa_event.remove(self.engine, "before_cursor_execute", self._seen)


def test_a_batch_claims_its_events_and_stages_its_outbox_rows_with_one_insert_each(database):
    events = [thing_event(amount_fen=n) for n in (1, 2, 3, 4, 5)]
    statements = Statements(database.engine)
    try:
        applied = apply_batch(forward, FakeService(batch_unit(database, events)), tuple(events))
    finally:
        statements.close()

    assert applied == {e.event_id for e in events}
    assert statements.inserts.count("park_inbox") == 1
    assert statements.inserts.count("park_outbox") == 1
    assert statements.inserts.count("effects") == 5  # the handler's own, one per event
    assert inbox_ids(database) == {e.event_id for e in events}
    bodies = outbox_bodies(database)
    # Each output names its own cause and keeps its flow, in the order of the batch.
    assert [(b["causation_id"], b["correlation_id"]) for b in bodies] == [
        (e.event_id, e.correlation_id) for e in events
    ]
    assert [b["payload"]["amount_fen"] for b in bodies] == [1, 2, 3, 4, 5]
    assert {b["park_id"] for b in bodies} == {"aux-shangjie"}


def record_later(service, event) -> None:
    """``forward`` with its effect row through ``uow.insert_later``."""
    with service.uow as uow:
        uow.insert_later(
            RECORD_EFFECT,
            {
                "event_id": event.event_id,
                "thing_id": event.payload["thing_id"],
                "correlation_id": event.correlation_id,
                "amount_fen": event.payload["amount_fen"],
                "applied_at": uow.clock(),
                "sender": None,
            },
        )
        uow.commit()


def test_rows_inserted_later_go_in_one_statement_before_the_batch_commits(database):
    events = tuple(thing_event(amount_fen=n) for n in (1, 2, 3, 4))
    statements = Statements(database.engine)
    try:
        apply_batch(record_later, FakeService(batch_unit(database, events)), events)
    finally:
        statements.close()

    assert statements.inserts.count("effects") == 1
    assert sorted(effect_event_ids(database)) == sorted(e.event_id for e in events)


def test_rows_inserted_later_are_rolled_back_with_a_failed_batch(database):
    events = (thing_event(), thing_event(amount_fen=BAD_AMOUNT))

    def refuse_bad(service, event):
        record_later(service, event)
        if event.payload["amount_fen"] == BAD_AMOUNT:
            raise PermanentFailure("bad amount")

    with pytest.raises(PermanentFailure):
        apply_batch(refuse_bad, FakeService(batch_unit(database, events)), events)
    assert effect_event_ids(database) == []


def test_outside_a_batch_a_row_inserted_later_is_inserted_at_once(database):
    event = thing_event()
    with UnitOfWork(database, TABLES, source="alpha", clock=lambda: datetime.now(UTC)) as uow:
        uow.insert_later(
            RECORD_EFFECT,
            {
                "event_id": event.event_id,
                "thing_id": event.payload["thing_id"],
                "correlation_id": event.correlation_id,
                "amount_fen": 1,
                "applied_at": uow.clock(),
                "sender": None,
            },
        )
        seen = uow.session.scalar(select(func.count()).select_from(recorder.effects))
        assert seen == 1  # visible inside the transaction, before the commit
        uow.commit()
    assert effect_event_ids(database) == [event.event_id]


def test_duplicates_in_the_batch_and_in_the_inbox_have_no_second_effect(database):
    seen_before, fresh = thing_event(), thing_event()
    # applied before, on its own: @handle_event's unit of work claims it
    single = UnitOfWork(
        database,
        TABLES,
        source="alpha",
        clock=lambda: datetime.now(UTC),
        consumed=(QUEUE, seen_before),
    )
    forward(FakeService(single), seen_before)

    batch = (seen_before, fresh, fresh)  # redelivered, and a second copy of the fresh one
    applied = apply_batch(forward, FakeService(batch_unit(database, batch)), batch)

    assert applied == {fresh.event_id}
    assert sorted(effect_event_ids(database)) == sorted([seen_before.event_id, fresh.event_id])
    assert len(outbox_bodies(database)) == 2


def test_a_batch_of_nothing_but_duplicates_is_a_duplicate(database):
    first, second = thing_event(), thing_event()
    apply_batch(forward, FakeService(batch_unit(database, [first, second])), (first, second))

    with pytest.raises(DuplicateEvent):
        apply_batch(forward, FakeService(batch_unit(database, [first, second])), (first, second))
    assert len(effect_event_ids(database)) == 2


def test_a_handler_that_fails_on_one_event_rolls_back_the_whole_batch(database):
    events = (thing_event(), thing_event(amount_fen=BAD_AMOUNT), thing_event())

    def refuse_bad(service, event):
        if event.payload["amount_fen"] == BAD_AMOUNT:
            raise PermanentFailure("bad amount")
        forward(service, event)

    with pytest.raises(PermanentFailure):
        apply_batch(refuse_bad, FakeService(batch_unit(database, events)), events)

    assert effect_event_ids(database) == []
    assert inbox_ids(database) == set()
    assert outbox_bodies(database) == []


def test_a_handler_leaving_its_block_without_commit_abandons_the_batch(database):
    events = (thing_event(), thing_event())

    def no_commit(service, event):
        with service.uow as uow:
            recorder.record(uow, event, 1)

    with pytest.raises(BatchAbandoned):
        apply_batch(no_commit, FakeService(batch_unit(database, events)), events)
    assert effect_event_ids(database) == []
    assert inbox_ids(database) == set()


def test_a_handler_that_changes_nothing_still_claims_its_events(database):
    events = (thing_event(), thing_event())
    apply_batch(lambda service, event: None, FakeService(batch_unit(database, events)), events)
    assert inbox_ids(database) == {e.event_id for e in events}


def test_the_claim_of_many_returns_only_the_ids_it_claimed(database):
    ids = [str(uuid.uuid4()) for _ in range(3)]
    with database.transaction() as session:
        assert claim_inbox_many(session, TABLES, QUEUE, ids[:2], datetime.now(UTC)) == set(ids[:2])
    with database.transaction() as session:
        assert claim_inbox_many(session, TABLES, QUEUE, ids, datetime.now(UTC)) == {ids[2]}
        assert claim_inbox_many(session, TABLES, "other.queue", ids[:1], datetime.now(UTC)) == {
            ids[0]
        }


# -- the entrypoint, on a real broker ------------------------------------------------------

failed_amounts: list[int] = []  # amounts BatchedAlpha refused, in the order it saw them


class BatchedAlpha(recorder.Alpha):
    """Alpha with its thing_happened handler batched; everything else as recorder.Alpha."""

    uow = UnitOfWorkProvider(TABLES)
    logs = LogContext()

    @handle_events("probe", "thing_happened", batch=20, concurrency=2)
    def on_thing_happened(self, event):
        if event.payload["amount_fen"] == BAD_AMOUNT:
            failed_amounts.append(BAD_AMOUNT)
            raise PermanentFailure(f"amount {BAD_AMOUNT} is refused")
        if event.payload["amount_fen"] == SLOW_AMOUNT:
            eventlet.sleep(0.5)
        if event.payload["amount_fen"] == PAUSED_AMOUNT:
            eventlet.sleep(0.02)
        forward(self, event)


def publish_things(world, amounts) -> list[str]:
    thing_ids = []
    for amount in amounts:
        thing_id = str(uuid.uuid4())
        world.publisher.publish(
            "thing_happened",
            {"thing_id": thing_id, "amount_fen": amount, "happened_at": datetime.now(UTC)},
        )
        thing_ids.append(thing_id)
    return thing_ids


def batch_sizes(world) -> list[int]:
    """How many events each claim took: a batch claims all of its events at one time."""
    with world.engine("alpha").connect() as connection:
        rows = connection.execute(
            select(func.count())
            .select_from(TABLES.inbox)
            .where(TABLES.inbox.c.consumer == QUEUE)
            .group_by(TABLES.inbox.c.processed_at)
        ).all()
    return [count for (count,) in rows]


def stop_and_check_everything_settled(world, container) -> None:
    """Stopped, the consumer's unacked messages would go back to the queue: an empty
    queue then means every message was acked (applied, duplicate or dead-lettered)."""
    container.stop()
    assert queue_depth(world.amqp_uri, QUEUE) == 0


@pytest.fixture
def batched_world(world):
    failed_amounts.clear()
    return world


@pytest.mark.parametrize("world", ["postgresql", "sqlite"], indirect=True)
def test_a_backlog_is_applied_in_batches_each_event_once(batched_world):
    world = batched_world
    thing_ids = publish_things(world, [100] * 200)  # waiting before the service starts

    container = world.start(BatchedAlpha)
    wait_for(lambda: len(world.effects("alpha")) >= 200, timeout=30, message="alpha to apply all")

    stop_and_check_everything_settled(world, container)
    assert world.effects("alpha") == dict.fromkeys(thing_ids, 1)
    sizes = batch_sizes(world)
    assert sum(sizes) == 200 and max(sizes) > 1, sizes  # batches formed
    assert max(sizes) <= 20  # and kept to the batch size
    assert queue_depth(world.amqp_uri, "alpha.dlq") == 0


@pytest.mark.parametrize("world", ["postgresql", "sqlite"], indirect=True)
def test_a_bad_message_in_a_batch_gets_its_own_dead_letter_and_the_others_apply_once(
    batched_world,
):
    world = batched_world
    thing_ids = publish_things(world, [100] * 30 + [BAD_AMOUNT] + [100] * 30)

    container = world.start(BatchedAlpha)
    wait_for(lambda: len(world.effects("alpha")) >= 60, timeout=30, message="the good ones")
    wait_for(
        lambda: queue_depth(world.amqp_uri, "alpha.dlq") == 1,
        timeout=10,
        message="the bad one's dead letter",
    )
    stop_and_check_everything_settled(world, container)

    bad_thing = thing_ids[30]
    assert world.effects("alpha") == {t: 1 for t in thing_ids if t != bad_thing}
    # Refused in its batch (rolled back), then once on its own: dead-lettered then.
    assert failed_amounts == [BAD_AMOUNT, BAD_AMOUNT]
    assert max(batch_sizes(world)) > 1  # the others did go in batches
    (letter,) = get_messages(world.amqp_uri, "alpha.dlq")
    assert json.loads(letter.body)["payload"]["thing_id"] == bad_thing
    assert "amount 13 is refused" in letter.headers["park-error"]


def test_malformed_messages_never_join_a_batch(batched_world):
    world = batched_world
    thing_ids = publish_things(world, [100] * 10)
    for body in (b"not json", b"{}", b"[" * 50):
        world.publisher.publish_raw("probe.events", "thing_happened", body, message_id="m-1")
    thing_ids += publish_things(world, [100] * 10)

    container = world.start(BatchedAlpha)
    wait_for(lambda: len(world.effects("alpha")) >= 20, timeout=30, message="the good ones")
    wait_for(
        lambda: queue_depth(world.amqp_uri, "alpha.dlq") == 3,
        timeout=10,
        message="three dead letters",
    )
    stop_and_check_everything_settled(world, container)

    assert world.effects("alpha") == dict.fromkeys(thing_ids, 1)
    assert failed_amounts == []  # no batch failed: the malformed ones were never in one
    assert max(batch_sizes(world)) > 1


def test_at_low_load_each_event_is_its_own_batch(batched_world):
    world = batched_world
    container = world.start(BatchedAlpha)
    for _ in range(5):
        (thing_id,) = publish_things(world, [100])
        wait_for(lambda t=thing_id: t in world.effects("alpha"), timeout=10, message="applied")
    stop_and_check_everything_settled(world, container)
    assert batch_sizes(world) == [1, 1, 1, 1, 1]


def outcomes(outcome: str) -> float:
    return EVENTS.labels("alpha", QUEUE, outcome)._value.get()


def test_batches_finishing_out_of_order_ack_only_their_own_messages(batched_world, monkeypatch):
    """A slow batch holds the lowest delivery tags while the other batch slot goes through
    many batches: their acks must not be ``multiple`` acks reaching down to its tags
    (acked early, it would be acked twice — a channel error — and redelivered)."""
    world = batched_world
    multiple_acks = []
    ack_multiple = _BatchConsumer._ack_multiple

    def counted(core, group):
        multiple_acks.append(len(group))
        ack_multiple(core, group)

    monkeypatch.setattr(_BatchConsumer, "_ack_multiple", counted)
    thing_ids = publish_things(world, [SLOW_AMOUNT] + [100] * 150)
    applied, duplicates = outcomes("applied"), outcomes("duplicate")

    container = world.start(BatchedAlpha)
    wait_for(lambda: len(world.effects("alpha")) >= 151, timeout=30, message="alpha to apply all")
    stop_and_check_everything_settled(world, container)

    assert world.effects("alpha") == dict.fromkeys(thing_ids, 1)
    assert outcomes("applied") - applied == 151
    assert outcomes("duplicate") - duplicates == 0  # nothing redelivered
    assert multiple_acks, "no batch was acked with a multiple ack at all"
    assert queue_depth(world.amqp_uri, "alpha.dlq") == 0


def test_a_stop_with_batches_in_flight_and_messages_waiting_loses_and_doubles_nothing(
    batched_world,
):
    world = batched_world
    thing_ids = publish_things(world, [PAUSED_AMOUNT] * 200)  # ~0.4 s a batch of 20

    container = world.start(BatchedAlpha)
    wait_for(lambda: world.effects("alpha"), timeout=30, message="a first batch committed")
    container.stop()  # batches in hand finish; what waits in memory goes back to the queue
    applied_when_stopped = len(world.effects("alpha"))
    assert applied_when_stopped < 200  # the stop did land mid-backlog

    container = world.start(BatchedAlpha)
    wait_for(lambda: len(world.effects("alpha")) >= 200, timeout=60, message="the rest")
    stop_and_check_everything_settled(world, container)
    assert world.effects("alpha") == dict.fromkeys(thing_ids, 1)
    assert queue_depth(world.amqp_uri, "alpha.dlq") == 0
