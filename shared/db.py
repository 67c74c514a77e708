"""Per-service database engines: SQLite under ``var/`` by default, PostgreSQL in production.

SQLite under eventlet freezes the process when two greenthreads write at once and ignores
``FOR UPDATE SKIP LOCKED``, so on SQLite every write transaction of a process holds one
lock (:attr:`Database.write_lock`) and a service runs as a single instance. SQLite runs
in WAL mode with ``synchronous=FULL``: a commit is on disk before it returns, so an acked
message's effect survives a power loss.
"""

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.orm import Session, sessionmaker

_psycopg_patched = False


def _patch_psycopg_for_eventlet() -> None:
    """psycopg2 blocks the whole eventlet hub unless told to wait cooperatively."""
    global _psycopg_patched
    if _psycopg_patched:
        return
    from eventlet import patcher

    if patcher.is_monkey_patched("socket"):
        from psycogreen.eventlet import patch_psycopg

        patch_psycopg()
        _psycopg_patched = True


def _on_sqlite_connect(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # FULL, not NORMAL: in WAL mode NORMAL skips the fsync at commit, so after a power
    # loss a committed transaction (whose message was already acked) can vanish. SQLite is
    # the default deployment; the cost is measured in docs/performance.md.
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def normalise_url(url: str) -> str:
    """``postgresql://`` means psycopg2 here (SQLAlchemy 2.1 would pick psycopg 3)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url.removeprefix(prefix)
    return url


# A pooled PostgreSQL connection that sat unused this long is pinged before it is handed
# out. One that was used more recently is not: under load a connection goes back and forth
# many times a second, and a ping per transaction is a round trip per event (3–4 % of a
# forwarder's CPU, docs/performance.md). The price: after a server restart, a connection
# used within that second fails its next statement instead of being replaced unseen.
# SQLAlchemy then invalidates the whole pool and that one message is retried (its own
# transaction rolled back), so nothing is lost or applied twice.
PING_AFTER_IDLE = 1.0  # seconds


def _ping_when_idle(engine: Engine) -> None:
    """``pool_pre_ping``, but only for connections idle for :data:`PING_AFTER_IDLE`."""

    def remember_use(_dbapi_connection, record, *_args) -> None:
        record.info["last_used"] = time.monotonic()

    def ping_if_idle(dbapi_connection, record, _proxy) -> None:
        if time.monotonic() - record.info.get("last_used", 0.0) < PING_AFTER_IDLE:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            # The pool discards this connection and checks out another (or a new one).
            raise exc.DisconnectionError(f"stale pooled connection: {error}") from error
        record.info["last_used"] = time.monotonic()

    event.listen(engine, "connect", remember_use)
    event.listen(engine, "checkin", remember_use)
    event.listen(engine, "checkout", ping_if_idle)


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _on_sqlite_connect)
        return engine
    _patch_psycopg_for_eventlet()
    engine = create_engine(url, pool_size=pool_size, max_overflow=pool_size)
    _ping_when_idle(engine)
    return engine


class _NoLock(contextlib.AbstractContextManager):
    def __exit__(self, *exc_info) -> None:
        return None


@dataclass
class Database:
    """An engine, its session factory, and the write lock SQLite needs."""

    url: str
    engine: Engine = field(init=False)
    sessions: sessionmaker[Session] = field(init=False)
    write_lock: contextlib.AbstractContextManager = field(init=False)

    def __post_init__(self) -> None:
        self.engine = make_engine(self.url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.write_lock = threading.RLock() if self.is_sqlite else _NoLock()

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        """A short write transaction (committed on success) under the write lock."""
        with self.write_lock, self.sessions() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
