"""How the relay sorts out a failing batch, with a fake publisher (no broker): whose fault
is a failure, and when is nobody blamed."""

import uuid
from datetime import UTC, datetime
from types import SimpleNamespace

import amqp
import pytest
from sqlalchemy import MetaData, select

from shared.contract import build, encode
from shared.db import Database
from shared.messaging.errors import PublishFailed, Unroutable
from shared.messaging.outbox import Relay, stage
from shared.messaging.tables import add_messaging_tables
from tests.services import contract  # noqa: F401  (registers alpha's test events)

TABLES = add_messaging_tables(MetaData())


def clock():
    return datetime.now(UTC)


class FakePublisher:
    """Fails the messages ``fail`` picks (by exchange) with the error it returns."""

    def __init__(self, fail=lambda messages: None):
        self.address = SimpleNamespace(user="alpha")
        self.fail = fail
        self.published: list[str] = []
        self.closed = 0

    def publish(self, messages):
        error = self.fail(messages)
        if error is not None:
            raise error
        self.published += [m.properties["message_id"] for m in messages]

    def close(self):
        self.closed += 1


@pytest.fixture
def database(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'alpha.sqlite'}")
    TABLES.inbox.metadata.create_all(database.engine)
    yield database
    database.dispose()


def stage_rows(database, *exchanges) -> list[str]:
    ids = []
    with database.transaction() as session:
        for exchange in exchanges:
            envelope = build(
                "alpha",
                "thing_recorded",
                {"thing_id": str(uuid.uuid4()), "amount_fen": 1, "recorded_by": "alpha"},
                occurred_at=clock(),
            )
            stage(
                session.connection(),
                TABLES.outbox,
                exchange=exchange,
                routing_key="thing_recorded",
                envelope=envelope,
                body=encode(envelope),
                created_at=clock(),
            )
            ids.append(envelope["event_id"])
    return ids


def failures(database) -> dict[str, tuple[int, bool, bool]]:
    """event_id → (failures, sent, quarantined)."""
    with database.engine.connect() as connection:
        rows = connection.execute(select(TABLES.outbox)).all()
    return {
        r.event_id: (r.failures, r.sent_at is not None, r.quarantined_at is not None) for r in rows
    }


def relay(database, publisher, **options):
    return Relay(database, TABLES.outbox, publisher, clock=clock, retry_after=0, **options)


def failing_on(exchange, error):
    return lambda messages: error if any(m.exchange == exchange for m in messages) else None


def test_a_nacked_row_is_blamed_when_the_others_of_its_batch_go_through(database):
    good, bad, other = stage_rows(database, "alpha.events", "bad.events", "alpha.events")
    nack = PublishFailed("the broker refused (nack) 1 messages")

    assert relay(database, FakePublisher(failing_on("bad.events", nack))).relay_all() == 2

    assert failures(database) == {
        good: (0, True, False), bad: (1, False, False), other: (0, True, False)
    }  # fmt: skip


def test_a_lone_nacked_row_is_not_blamed_nothing_says_it_is_the_rows_fault(database):
    [lone] = stage_rows(database, "bad.events")
    nack = PublishFailed("the broker refused (nack) 1 messages")

    with pytest.raises(PublishFailed, match="no row of the batch could be published"):
        relay(database, FakePublisher(failing_on("bad.events", nack))).relay_all()

    assert failures(database) == {lone: (0, False, False)}


def test_a_channel_error_blames_the_row_even_alone(database):
    [lone] = stage_rows(database, "bad.events")
    refused = PublishFailed("broker connection failed")
    refused.__cause__ = amqp.exceptions.AccessRefused("ACCESS_REFUSED")

    assert relay(database, FakePublisher(failing_on("bad.events", refused))).relay_all() == 0

    assert failures(database) == {lone: (1, False, False)}


def test_an_outage_in_the_middle_blames_nobody_and_keeps_what_was_sent(database):
    first, second = stage_rows(database, "alpha.events", "alpha.events")
    calls = []

    def fail(messages):
        calls.append(len(messages))
        if len(calls) == 1:
            return Unroutable("one returned", (0,))  # the batch fails for a row…
        if len(calls) == 3:  # …and during the one-by-one pass the broker goes away
            outage = PublishFailed("broker connection failed")
            outage.__cause__ = ConnectionRefusedError(111, "refused")
            return outage
        return None

    with pytest.raises(PublishFailed, match="broker connection failed"):
        relay(database, FakePublisher(fail)).relay_all()

    assert failures(database) == {first: (0, True, False), second: (0, False, False)}


def test_a_row_that_cannot_become_a_message_is_blamed_and_the_channel_reset(database):
    good, broken = stage_rows(database, "alpha.events", "alpha.events")
    with database.transaction() as session:
        session.execute(
            TABLES.outbox.update().where(TABLES.outbox.c.event_id == broken).values(headers="{")
        )
    publisher = FakePublisher()

    assert relay(database, publisher, quarantine_after=1).relay_all() == 1

    assert failures(database) == {good: (0, True, False), broken: (1, False, True)}
    assert publisher.closed == 1


def test_a_resting_row_is_left_out_of_the_next_batch(database):
    bad, good = stage_rows(database, "bad.events", "alpha.events")
    publisher = FakePublisher(failing_on("bad.events", Unroutable("returned", (0,))))
    resting = Relay(database, TABLES.outbox, publisher, clock=clock, retry_after=60)

    resting.relay_all()
    stage_rows(database, "alpha.events")
    resting.relay_all()

    assert failures(database)[bad] == (1, False, False)  # not tried again yet
    assert len(publisher.published) == 2 and good in publisher.published
