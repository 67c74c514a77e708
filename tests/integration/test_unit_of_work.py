"""The unit of work on a real database: state and events commit or roll back together,
and the events it emits get the right correlation."""

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from shared.db import Database
from shared.messaging.unit_of_work import Cause, UnitOfWork
from shared.tooling.migrate import upgrade
from tests.services.recorder import TABLES

MIGRATIONS = Path(__file__).parents[1] / "services" / "migrations"


@pytest.fixture
def database(make_database_url, backend):
    url = make_database_url("uow", backend)
    upgrade(url, MIGRATIONS)
    database = Database(url)
    yield database
    database.dispose()


def unit_of_work(database, cause=Cause()):
    return UnitOfWork(
        database, TABLES, source="alpha", clock=lambda: datetime.now(UTC), cause=cause
    )


def emit_thing(uow):
    uow.emit(
        "thing_recorded", {"thing_id": str(uuid.uuid4()), "amount_fen": 1, "recorded_by": "alpha"}
    )


def staged(database) -> list[dict]:
    with database.engine.connect() as connection:
        bodies = connection.scalars(select(TABLES.outbox.c.body).order_by(TABLES.outbox.c.id))
        return [json.loads(body) for body in bodies]


def test_leaving_the_block_without_commit_stages_nothing(database):
    with unit_of_work(database) as uow:
        emit_thing(uow)

    assert staged(database) == []


def test_events_of_one_transaction_share_a_new_correlation_id(database):
    with unit_of_work(database) as uow:
        emit_thing(uow)
        emit_thing(uow)
        uow.commit()

    first, second = staged(database)
    assert first["correlation_id"] == second["correlation_id"]
    assert first["causation_id"] is None


def test_each_transaction_of_a_flow_starting_unit_of_work_is_its_own_flow(database):
    uow = unit_of_work(database)
    for _ in range(2):
        with uow:
            emit_thing(uow)
            uow.commit()

    first, second = staged(database)
    assert first["correlation_id"] != second["correlation_id"]


def test_events_caused_by_another_keep_its_correlation_and_name_it(database):
    cause = Cause(str(uuid.uuid4()), str(uuid.uuid4()), "aux-shangjie")
    with unit_of_work(database, cause) as uow:
        emit_thing(uow)
        uow.commit()

    [event] = staged(database)
    assert (event["correlation_id"], event["causation_id"], event["park_id"]) == (
        cause.correlation_id,
        cause.causation_id,
        "aux-shangjie",
    )
