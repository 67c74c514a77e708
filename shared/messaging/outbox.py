"""The transactional outbox: events are staged with the state change, then relayed.

A service never publishes from a handler. It inserts outbox rows in the transaction that
changes its state (:func:`stage`); after the commit the :class:`Relay` publishes unsent
rows in batches with publisher confirms and marks them sent. A crash between publish and
mark-sent republishes the rows: consumers' inboxes make that harmless.

On PostgreSQL several relays (several instances of a service) share the table: each
claims a batch with ``FOR UPDATE SKIP LOCKED`` and holds the claim while it publishes,
so in the normal case each row is published once. On SQLite there is one instance; the
relay reads a batch, lets go of the database while it publishes, and marks the rows sent
in a second short transaction — never holding a transaction across network I/O.
"""

import functools
import json
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.engine import Connection

from shared.db import Database
from shared.messaging.amqp_client import ConfirmingPublisher, OutgoingMessage
from shared.metrics import OUTBOX_FAILURES, OUTBOX_PUBLISHED

log = structlog.get_logger(__name__)


def stage(
    connection: Connection,
    outbox: Table,
    *,
    exchange: str,
    routing_key: str,
    envelope: Mapping[str, Any],
    body: bytes,
    created_at: datetime,
    headers: Mapping[str, Any] | None = None,
) -> None:
    """Insert one outgoing message in the caller's transaction."""
    connection.execute(
        _insert(outbox),
        {
            "event_id": envelope["event_id"],
            "exchange": exchange,
            "routing_key": routing_key,
            "event_type": envelope["type"],
            "correlation_id": envelope["correlation_id"],
            "body": body,
            "headers": json.dumps(headers) if headers else None,
            "created_at": created_at,
        },
    )


@functools.cache
def _insert(outbox: Table):
    """A constant statement, the values as parameters: compiled once, not per event."""
    return insert(outbox)


def _to_message(row) -> OutgoingMessage:
    properties = {
        "message_id": row.event_id,
        "correlation_id": row.correlation_id,
        "type": row.event_type,
        "app_id": row.exchange.split(".", 1)[0],
        "timestamp": row.created_at,
    }
    if row.headers:
        properties["headers"] = json.loads(row.headers)
    return OutgoingMessage(row.exchange, row.routing_key, row.body, properties)


class Relay:
    """Publishes a service's unsent outbox rows; see the module docstring for the rules."""

    def __init__(
        self,
        database: Database,
        outbox: Table,
        publisher: ConfirmingPublisher,
        *,
        clock: Callable[[], datetime],
        batch_size: int = 500,
        name: str = "",
    ):
        self.name = name  # the service, for the metrics
        self.database = database
        self.outbox = outbox
        self.publisher = publisher
        self.clock = clock
        self.batch_size = batch_size

    def relay_batch(self) -> int:
        """Publish at most one batch; return how many rows it published."""
        if self.database.is_sqlite:
            published = self._relay_batch_sqlite()
        else:
            published = self._relay_batch_locked()
        if published:
            OUTBOX_PUBLISHED.labels(self.name).inc(published)
        return published

    def relay_all(self) -> int:
        total = 0
        while (published := self.relay_batch()) > 0:
            total += published
            if published < self.batch_size:
                break
        return total

    def _unsent(self):
        return (
            select(self.outbox)
            .where(self.outbox.c.sent_at.is_(None))
            .order_by(self.outbox.c.id)
            .limit(self.batch_size)
        )

    def _mark_sent(self, connection: Connection, ids: list[int]) -> None:
        connection.execute(
            update(self.outbox).where(self.outbox.c.id.in_(ids)).values(sent_at=self.clock())
        )

    def _relay_batch_locked(self) -> int:
        with self.database.engine.begin() as connection:
            rows = connection.execute(self._unsent().with_for_update(skip_locked=True)).all()
            if not rows:
                return 0
            # The row locks are held while publishing: that is what keeps a second
            # relay from publishing the same rows. A batch takes milliseconds.
            self.publisher.publish([_to_message(row) for row in rows])
            self._mark_sent(connection, [row.id for row in rows])
        return len(rows)

    def _relay_batch_sqlite(self) -> int:
        with self.database.write_lock, self.database.engine.connect() as connection:
            rows = connection.execute(self._unsent()).all()
        if not rows:
            return 0
        self.publisher.publish([_to_message(row) for row in rows])
        with self.database.write_lock, self.database.engine.begin() as connection:
            self._mark_sent(connection, [row.id for row in rows])
        return len(rows)

    def prune(self, retention: timedelta, *, chunk: int = 5000) -> int:
        """Delete rows sent longer ago than ``retention``, a chunk per transaction."""
        cutoff = self.clock() - retention
        removed = 0
        while True:
            with self.database.write_lock, self.database.engine.begin() as connection:
                ids = select(self.outbox.c.id).where(self.outbox.c.sent_at < cutoff).limit(chunk)
                count = connection.execute(
                    delete(self.outbox).where(self.outbox.c.id.in_(ids.scalar_subquery()))
                ).rowcount
            removed += count
            if count < chunk:
                return removed


class RelayLoop:
    """Runs a :class:`Relay` until stopped: woken by :meth:`nudge` after each commit,
    and by a poll interval as a safety net (rows left by a crashed instance, say)."""

    def __init__(
        self,
        relay: Relay,
        *,
        poll_interval: float = 1.0,
        housekeeping: Callable[[], None] | None = None,
        housekeeping_every: float = 3600.0,
    ):
        self.relay = relay
        self.poll_interval = poll_interval
        self.housekeeping = housekeeping
        self.housekeeping_every = housekeeping_every
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._last_housekeeping = 0.0

    def nudge(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopped.set()
        self._wake.set()

    def run(self) -> None:
        failures = 0
        while not self._stopped.is_set():
            if failures:
                # Back off, deaf to nudges: every commit during an outage would otherwise
                # wake the relay straight into the same failure.
                self._stopped.wait(min(0.2 * 2**failures, 10.0))
            else:
                self._wake.wait(self.poll_interval)
            self._wake.clear()
            if self._stopped.is_set():
                break
            try:
                self.relay.relay_all()
                self._maybe_housekeep()
            except Exception as error:  # the loop must outlive broker and database outages
                failures += 1
                OUTBOX_FAILURES.labels(self.relay.name).inc()
                if failures == 1:
                    log.exception("outbox relay failed; retrying with back-off")
                else:
                    log.warning("outbox relay still failing", failures=failures, error=repr(error))
            else:
                if failures:
                    log.info("outbox relay recovered", failures=failures)
                failures = 0
        self.relay.publisher.close()

    def _maybe_housekeep(self) -> None:
        now = time.monotonic()
        if self.housekeeping and now - self._last_housekeeping >= self.housekeeping_every:
            self._last_housekeeping = now
            self.housekeeping()
