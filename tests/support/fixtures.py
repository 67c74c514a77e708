"""Fixtures for tests against the real broker and database.

Each test gets its own RabbitMQ vhost (nameko's ``rabbit_config``, created and deleted
through the management API) and its own databases (PostgreSQL by default, created and
dropped; ``PARK_TEST_DB=sqlite`` for SQLite files), so runs never see each other.
"""

import os
import uuid
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import create_engine, text

from shared.db import normalise_url

PG_SERVER = os.environ.get("PARK_TEST_PG", "postgresql://postgres@127.0.0.1:5432")
DEFAULT_BACKEND = os.environ.get("PARK_TEST_DB", "postgresql")


def _admin_engine():
    return create_engine(normalise_url(f"{PG_SERVER}/postgres"), isolation_level="AUTOCOMMIT")


@pytest.fixture
def make_database_url(tmp_path) -> Iterator[Callable[..., str]]:
    """``make_database_url("alpha")`` → the URL of a fresh, empty database for this test."""
    created: list[str] = []

    def make(name: str, backend: str = DEFAULT_BACKEND) -> str:
        if backend == "sqlite":
            return f"sqlite:///{tmp_path / f'{name}.sqlite'}"
        database = f"park_test_{name}_{uuid.uuid4().hex[:10]}"
        engine = _admin_engine()
        with engine.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{database}"'))
        engine.dispose()
        created.append(database)
        return f"{PG_SERVER}/{database}"

    yield make

    if created:
        engine = _admin_engine()
        with engine.connect() as connection:
            for database in created:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        engine.dispose()


@pytest.fixture(params=["postgresql", "sqlite"])
def backend(request) -> str:
    """Run a test on both database backends."""
    return request.param
