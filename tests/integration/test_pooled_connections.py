"""Pooled PostgreSQL connections: pinged after sitting idle, not on every checkout.

``shared/db.py`` pings a connection only when it was unused for ``PING_AFTER_IDLE``; these
tests kill the server side of a pooled connection (``pg_terminate_backend``, what a server
restart does to every connection) and check what the next transaction sees.
"""

import pytest
from sqlalchemy import create_engine, exc, text
from sqlalchemy.dialects.postgresql.psycopg2 import PGDialect_psycopg2

from shared import db
from shared.db import make_engine, normalise_url


@pytest.fixture
def engine(make_database_url):
    engine = make_engine(make_database_url("pool", "postgresql"), pool_size=1)
    yield engine
    engine.dispose()


@pytest.fixture
def pings(monkeypatch):
    """Every ping of a pooled connection (by any engine: the dialect's method)."""
    counted = []
    real_ping = PGDialect_psycopg2.do_ping

    def counting_ping(dialect, dbapi_connection):
        counted.append(dbapi_connection)
        return real_ping(dialect, dbapi_connection)

    monkeypatch.setattr(PGDialect_psycopg2, "do_ping", counting_ping)
    return counted


def backend_pid(engine) -> int:
    with engine.connect() as connection:
        return connection.execute(text("SELECT pg_backend_pid()")).scalar_one()


def terminate(engine, pid: int) -> None:
    admin = create_engine(normalise_url(engine.url.render_as_string(hide_password=False)))
    with admin.begin() as connection:
        assert connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
    admin.dispose()


def test_a_busy_connection_is_not_pinged(engine, pings):
    for _ in range(5):
        backend_pid(engine)
    assert pings == []


def test_an_idle_connection_that_the_server_dropped_is_replaced_without_an_error(
    engine, pings, monkeypatch
):
    first = backend_pid(engine)
    terminate(engine, first)
    monkeypatch.setattr(db, "PING_AFTER_IDLE", 0.0)  # as if it had sat idle

    second = backend_pid(engine)

    assert len(pings) >= 1
    assert second != first


def test_connections_dropped_while_busy_fail_once_then_the_whole_pool_is_renewed(
    make_database_url, pings
):
    engine = make_engine(make_database_url("pool2", "postgresql"), pool_size=2)
    try:
        old = both_pids(engine)
        for pid in old:
            terminate(engine, pid)

        with pytest.raises(exc.OperationalError):
            backend_pid(engine)  # not pinged: used a moment ago
        # The failure renewed every pooled connection, not only the one that failed.
        assert not set(both_pids(engine)) & set(old)
    finally:
        engine.dispose()


def both_pids(engine) -> list[int]:
    """The server pids of two connections held at once (so: both of the pool's)."""
    with engine.connect() as one, engine.connect() as two:
        return [c.execute(text("SELECT pg_backend_pid()")).scalar_one() for c in (one, two)]
