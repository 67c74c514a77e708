import uuid
from datetime import UTC, datetime, timedelta

import eventlet
from sqlalchemy import func, select, update

from shared.db import Database
from shared.messaging.amqp_client import BrokerAddress, ConfirmingPublisher
from shared.messaging.outbox import Relay
from shared.messaging.unit_of_work import UnitOfWork
from tests.services.recorder import TABLES
from tests.support.broker import get_messages


def clock():
    return datetime.now(UTC)


def stage_things(database, count):
    with UnitOfWork(database, TABLES, source="alpha", clock=clock) as uow:
        for _ in range(count):
            uow.emit(
                "thing_recorded",
                {"thing_id": str(uuid.uuid4()), "amount_fen": 5, "recorded_by": "alpha"},
            )
        uow.commit()


def test_two_relays_on_postgresql_publish_each_outbox_row_once(world):
    # beta's work queue collects everything alpha publishes; beta itself is not started.
    database = Database(world.database_urls["alpha"])
    stage_things(database, 3000)
    relays = [
        Relay(
            database,
            TABLES.outbox,
            ConfirmingPublisher(BrokerAddress.from_uri(world.amqp_uri)),
            clock=clock,
            batch_size=100,
        )
        for _ in range(2)
    ]

    counts = [
        pool_result.wait() for pool_result in [eventlet.spawn(relay.relay_all) for relay in relays]
    ]

    messages = get_messages(world.amqp_uri, "beta.alpha.thing_recorded")
    ids = [m.properties["message_id"] for m in messages]
    assert sum(counts) == 3000
    assert all(count > 0 for count in counts), counts  # both relays took part
    assert len(ids) == len(set(ids)) == 3000
    with database.engine.connect() as connection:
        unsent = connection.execute(
            select(func.count()).where(TABLES.outbox.c.sent_at.is_(None))
        ).scalar()
    assert unsent == 0
    database.dispose()


def test_sent_rows_are_pruned_after_the_retention_period(world):
    database = Database(world.database_urls["alpha"])
    stage_things(database, 10)
    relay = Relay(
        database,
        TABLES.outbox,
        ConfirmingPublisher(BrokerAddress.from_uri(world.amqp_uri)),
        clock=clock,
    )
    relay.relay_all()
    stage_things(database, 2)  # not sent yet: never pruned
    with database.transaction() as session:
        session.execute(
            update(TABLES.outbox)
            .where(TABLES.outbox.c.sent_at.is_not(None))
            .values(sent_at=clock() - timedelta(days=8))
        )

    removed = relay.prune(timedelta(days=7), chunk=3)

    with database.engine.connect() as connection:
        left = connection.execute(select(func.count()).select_from(TABLES.outbox)).scalar()
    assert (removed, left) == (10, 2)
    database.dispose()
