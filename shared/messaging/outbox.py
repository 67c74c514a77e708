"""The transactional outbox: events are staged with the state change, then relayed.

A service never publishes from a handler. It inserts outbox rows in the transaction that
changes its state (:func:`stage`); after the commit the :class:`Relay` publishes unsent
rows in batches with publisher confirms and marks them sent. A crash between publish and
mark-sent republishes the rows: consumers' inboxes make that harmless.

On PostgreSQL several relays (several instances of a service) share the table: each
claims a batch with ``FOR UPDATE SKIP LOCKED`` (marking it sent in the same statement)
and holds the claim while it publishes, so in the normal case each row is published
once; the transaction commits after the publish, undoing the mark of what did not go.
On SQLite there is one instance; the relay reads a batch, lets go of the database while
it publishes, and marks the rows sent in a second short transaction — never holding a
transaction across network I/O.

One bad row must not stall the rest. A batch that fails is published again one row at a
time: the rows that go through are marked sent, and a row that fails on its own gets a
failure counted (``failures``, ``last_error``) and rests a while (doubling, from
``retry_after`` seconds) while the others flow. After ``quarantine_after`` failures it is
*quarantined* (``quarantined_at``): kept, skipped by the relay, shown by ``health()``,
counted in ``park_outbox_quarantined_total``, and published again once an operator
releases it (``park outbox release``). A failure that says nothing about the row — the
broker unreachable — blames no row: the relay backs off and tries the batch again.
"""

import functools
import json
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import amqp
import structlog
from sqlalchemy import Row, Table, and_, bindparam, delete, insert, select, update
from sqlalchemy.engine import Connection

from shared.db import Database
from shared.messaging.amqp_client import ConfirmingPublisher, OutgoingMessage
from shared.messaging.errors import PublishFailed, Unroutable
from shared.metrics import OUTBOX_FAILURES, OUTBOX_PUBLISHED, OUTBOX_QUARANTINED

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
        _values(
            exchange=exchange,
            routing_key=routing_key,
            envelope=envelope,
            body=body,
            created_at=created_at,
            headers=headers,
        ),
    )


def stage_many(connection: Connection, outbox: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert several outgoing messages (each given as :func:`stage`'s keyword arguments)
    in one statement: one multi-row INSERT on PostgreSQL (SQLAlchemy's "insertmanyvalues"),
    one executemany on SQLite. Row ids follow the order of ``rows``."""
    if rows:
        connection.execute(_insert(outbox), [_values(**row) for row in rows])


def _values(
    *,
    exchange: str,
    routing_key: str,
    envelope: Mapping[str, Any],
    body: bytes,
    created_at: datetime,
    headers: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "event_id": envelope["event_id"],
        "exchange": exchange,
        "routing_key": routing_key,
        "event_type": envelope["type"],
        "correlation_id": envelope["correlation_id"],
        "body": body,
        "headers": json.dumps(headers) if headers else None,
        "created_at": created_at,
    }


@functools.cache
def _insert(outbox: Table):
    """A constant statement, the values as parameters: compiled once, not per event."""
    return insert(outbox)


def _to_message(row, user_id: str | None = None) -> OutgoingMessage:
    properties = {
        "message_id": row.event_id,
        "correlation_id": row.correlation_id,
        "type": row.event_type,
        "app_id": row.exchange.split(".", 1)[0],
        "timestamp": row.created_at,
    }
    if user_id:
        # The broker checks it against the connection's user: consumers see a verified
        # sender (DESIGN §6 Identities).
        properties["user_id"] = user_id
    if row.headers:
        properties["headers"] = json.loads(row.headers)
    return OutgoingMessage(row.exchange, row.routing_key, row.body, properties)


# Errors that mean "the broker is out of reach", not "the broker refused this message".
_OUTAGE_ERRORS = (OSError, socket.timeout, ConnectionError, amqp.exceptions.ConnectionError)
# The broker answered about this very message (404 no exchange, 403 access refused,
# 406 precondition failed, e.g. a user_id that is not the connection's).
_REFUSAL_ERRORS = (amqp.exceptions.ChannelError,)


def _causes(error: BaseException):
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


def _is_outage(error: BaseException) -> bool:
    if isinstance(error, Unroutable):  # the broker answered: about these very messages
        return False
    return any(isinstance(cause, _OUTAGE_ERRORS) for cause in _causes(error))


def _is_refusal(error: BaseException) -> bool:
    if isinstance(error, Unroutable):
        return True
    if not isinstance(error, PublishFailed):
        return True  # the row could not even be turned into a message (its headers, say)
    return any(isinstance(cause, _REFUSAL_ERRORS) for cause in _causes(error))


@dataclass
class _Outcome:
    """What one relay pass did with the rows it took."""

    sent: list[int] = field(default_factory=list)
    failed: list[tuple[Row, str]] = field(default_factory=list)  # (row, why)
    outage: BaseException | None = None


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
        quarantine_after: int = 5,
        retry_after: float = 1.0,
        sign_as_user: bool = True,
    ):
        if quarantine_after < 1:
            raise ValueError("quarantine_after must be at least 1")
        self.name = name  # the service, for the metrics
        self.database = database
        self.outbox = outbox
        self.publisher = publisher
        self.clock = clock
        self.batch_size = batch_size
        self.quarantine_after = quarantine_after
        self.retry_after = retry_after
        self.user_id = publisher.address.user if sign_as_user else None
        # Rows that failed on their own wait here (id → monotonic time of the next try),
        # so that they neither block the batch nor turn the relay into a hot loop.
        self._resting: dict[int, float] = {}

    def relay_batch(self) -> int:
        """Publish at most one batch; return how many rows it published.

        Raises :class:`PublishFailed` when the broker is out of reach (no row is blamed).
        """
        if self.database.is_sqlite:
            outcome = self._relay_batch_sqlite()
        else:
            outcome = self._relay_batch_locked()
        if outcome.sent:
            OUTBOX_PUBLISHED.labels(self.name).inc(len(outcome.sent))
        if outcome.outage is not None:
            raise outcome.outage
        return len(outcome.sent)

    def relay_all(self) -> int:
        total = 0
        while (published := self.relay_batch()) > 0:
            total += published
            if published < self.batch_size:
                break
        return total

    # The relay's statements are built once, their values passed as parameters: building
    # one per pass costs SQLAlchemy a new cache key and lookup each time, and at half load
    # a pass carries one or two rows (docs/performance.md).
    @functools.cached_property
    def _select_unsent(self):
        """The next batch of unsent rows, not counting the resting ones (``:resting``)."""
        return (
            select(self.outbox)
            .where(
                and_(
                    self.outbox.c.sent_at.is_(None),
                    self.outbox.c.quarantined_at.is_(None),
                    self.outbox.c.id.not_in(bindparam("resting", expanding=True)),
                )
            )
            .order_by(self.outbox.c.id)
            .limit(self.batch_size)
        )

    @functools.cached_property
    def _claim_unsent(self):
        """PostgreSQL: lock the next batch and mark it sent, in one statement and round
        trip. The locks and the mark last until the commit, after the publish; the mark
        of a row that was not published is undone in the same transaction."""
        batch = self._select_unsent.with_only_columns(self.outbox.c.id)
        return (
            update(self.outbox)
            .where(self.outbox.c.id.in_(batch.with_for_update(skip_locked=True).scalar_subquery()))
            .values(sent_at=bindparam("sent_at"))
            .returning(*self.outbox.c)
        )

    def _set_sent_at(self, value):
        return (
            update(self.outbox)
            .where(self.outbox.c.id.in_(bindparam("ids", expanding=True)))
            .values(sent_at=value)
        )

    @functools.cached_property
    def _set_sent(self):
        """SQLite: mark the published rows, in the transaction after the publish."""
        return self._set_sent_at(bindparam("sent_at"))

    @functools.cached_property
    def _set_unsent(self):
        return self._set_sent_at(None)

    def _forget_rested(self) -> list[int]:
        """The ids of the rows still resting after a failure (see :meth:`_record_failures`)."""
        now = time.monotonic()
        for row_id in [i for i, due in self._resting.items() if due <= now]:
            del self._resting[row_id]
        return list(self._resting)

    def _record_failures(self, connection: Connection, outcome: _Outcome) -> None:
        for row, why in outcome.failed:
            failures = row.failures + 1
            quarantine = failures >= self.quarantine_after
            connection.execute(
                update(self.outbox)
                .where(self.outbox.c.id == row.id)
                .values(
                    failures=failures,
                    last_error=why[:2000],
                    quarantined_at=self.clock() if quarantine else None,
                )
            )
            if quarantine:
                self._resting.pop(row.id, None)
                OUTBOX_QUARANTINED.labels(self.name).inc()
                log.error(
                    "outbox row quarantined: release it with `park outbox release` once "
                    "its cause is fixed",
                    outbox_id=row.id,
                    event_id=row.event_id,
                    exchange=row.exchange,
                    failures=failures,
                    error=why,
                )
            else:
                delay = min(self.retry_after * 2 ** (failures - 1), 60.0)
                self._resting[row.id] = time.monotonic() + delay
                log.warning(
                    "outbox row failed to publish; the others go on",
                    outbox_id=row.id,
                    event_id=row.event_id,
                    failures=failures,
                    retry_in_seconds=delay,
                    error=why,
                )

    def _publish(self, rows: Sequence[Row]) -> _Outcome:
        """Publish the batch; if it fails, each row on its own to find the culprits."""
        outcome = _Outcome()
        try:
            self.publisher.publish([_to_message(row, self.user_id) for row in rows])
        except Exception as error:  # sorted out below, row by row
            if _is_outage(error):
                outcome.outage = error
                return outcome
            log.info("outbox batch failed; publishing its rows one by one", error=str(error))
        else:
            outcome.sent = [row.id for row in rows]
            return outcome
        suspects = []  # failed, but the failure does not say whose fault it is (a nack…)
        for row in rows:
            try:
                self.publisher.publish([_to_message(row, self.user_id)])
            except Exception as error:
                if not isinstance(error, PublishFailed):
                    self.publisher.close()  # a half-sent publish leaves the channel unusable
                if _is_outage(error):
                    outcome.outage = error
                    return outcome
                why = f"{type(error).__name__}: {error}"
                (outcome.failed if _is_refusal(error) else suspects).append((row, why))
            else:
                outcome.sent.append(row.id)
        if outcome.sent:  # the broker took other rows meanwhile: these are at fault
            outcome.failed += suspects
        elif suspects:
            # Nothing went through: no evidence that the rows, not the broker, are at fault.
            why = suspects[0][1]
            outcome.outage = PublishFailed(f"no row of the batch could be published: {why}")
        return outcome

    def _relay_batch_locked(self) -> _Outcome:
        with self.database.engine.begin() as connection:
            claimed = connection.execute(
                self._claim_unsent, {"resting": self._forget_rested(), "sent_at": self.clock()}
            )
            rows = sorted(claimed.all(), key=lambda row: row.id)  # RETURNING has no order
            if not rows:
                return _Outcome()
            # The row locks are held while publishing: that is what keeps a second
            # relay from publishing the same rows. A batch takes milliseconds.
            outcome = self._publish(rows)
            sent = set(outcome.sent)
            if unsent := [row.id for row in rows if row.id not in sent]:
                connection.execute(self._set_unsent, {"ids": unsent})
            self._record_failures(connection, outcome)
        return outcome

    def _relay_batch_sqlite(self) -> _Outcome:
        with self.database.write_lock, self.database.engine.connect() as connection:
            rows = connection.execute(self._select_unsent, {"resting": self._forget_rested()}).all()
        if not rows:
            return _Outcome()
        outcome = self._publish(rows)
        with self.database.write_lock, self.database.engine.begin() as connection:
            if outcome.sent:
                connection.execute(self._set_sent, {"ids": outcome.sent, "sent_at": self.clock()})
            self._record_failures(connection, outcome)
        return outcome

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


@dataclass(frozen=True)
class QuarantinedRow:
    """An outbox row the relay gave up on, as an operator sees it."""

    id: int
    event_id: str
    event_type: str
    exchange: str
    routing_key: str
    failures: int
    last_error: str | None
    created_at: datetime
    quarantined_at: datetime


def quarantined(
    connection: Connection, outbox: Table, *, limit: int = 1000
) -> list[QuarantinedRow]:
    """The quarantined rows, oldest first."""
    columns = [outbox.c[name] for name in QuarantinedRow.__dataclass_fields__]
    rows = connection.execute(
        select(*columns)
        .where(outbox.c.quarantined_at.is_not(None), outbox.c.sent_at.is_(None))
        .order_by(outbox.c.id)
        .limit(limit)
    ).all()
    return [QuarantinedRow(**row._mapping) for row in rows]


def release(connection: Connection, outbox: Table, ids: Sequence[int] | None = None) -> list[int]:
    """Clear the quarantine of the given rows (all, if ``ids`` is None) so that the relay
    tries them again, with a fresh count of failures; returns the ids released."""
    condition = and_(outbox.c.quarantined_at.is_not(None), outbox.c.sent_at.is_(None))
    if ids is not None:
        condition = and_(condition, outbox.c.id.in_(list(ids)))
    released = connection.execute(select(outbox.c.id).where(condition).order_by(outbox.c.id))
    released = list(released.scalars())
    if released:
        connection.execute(
            update(outbox).where(outbox.c.id.in_(released)).values(quarantined_at=None, failures=0)
        )
    return released


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
