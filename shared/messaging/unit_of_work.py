"""The unit of work: one transaction holding a state change, its inbox claim and its events.

    with uow:
        uow.session.add(...)                     # the state change
        uow.emit("enterprise_admitted", {...})   # staged in the outbox, same transaction
        uow.commit()

Leaving the block without ``commit()`` rolls everything back. A unit of work created for
a consumed event first *claims* the event in the inbox; if another transaction already
applied it, entering raises :class:`~shared.messaging.errors.DuplicateEvent` and nothing happens.
Events it emits copy the consumed event's correlation id and name it as their cause.
"""

import functools
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from shared.contract import Event, build, encode
from shared.db import Database
from shared.messaging.errors import DuplicateEvent
from shared.messaging.outbox import stage
from shared.messaging.tables import MessagingTables
from shared.messaging.topology import events_exchange


@dataclass(frozen=True)
class Cause:
    """What the events of this unit of work descend from."""

    correlation_id: str | None = None
    causation_id: str | None = None
    park_id: str | None = None

    @classmethod
    def of(cls, event: Event) -> "Cause":
        return cls(event.correlation_id, event.event_id, event.park_id)


def claim_inbox(
    session: Session, tables: MessagingTables, consumer: str, event_id: str, now: datetime
) -> bool:
    """Record ``(consumer, event_id)``; False if it was already there (a duplicate).

    ON CONFLICT DO NOTHING: on PostgreSQL a concurrent duplicate waits for the first
    transaction and then finds the row (or claims it, if the first rolled back).
    """
    connection = session.connection()
    statement = _claim_statement(tables.inbox, connection.dialect.name)
    values = {"consumer": consumer, "event_id": event_id, "processed_at": now}
    return connection.execute(statement, values).rowcount == 1


@functools.cache
def _claim_statement(inbox, dialect: str):
    """One constant statement per table and dialect: SQLAlchemy compiles it once, instead
    of building, hashing and compiling a new statement with literal values per event."""
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    return insert(inbox).on_conflict_do_nothing()


class UnitOfWork:
    """A transaction of one service; subclasses add repositories in :meth:`opened`."""

    def __init__(
        self,
        database: Database,
        tables: MessagingTables,
        *,
        source: str,
        clock: Callable[[], datetime],
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
        cause: Cause = Cause(),
        consumed: tuple[str, Event] | None = None,
        on_commit: Callable[[], None] = lambda: None,
    ):
        self.database = database
        self.tables = tables
        self.source = source
        self.clock = clock
        self.new_id = new_id
        self._given_cause = cause
        self.cause = cause
        self.consumed = consumed  # (consumer, event) still to claim in the inbox
        self.on_commit = on_commit
        self.session: Session | None = None
        self._committed = False

    def __enter__(self) -> "UnitOfWork":
        self.database.write_lock.__enter__()
        try:
            self.session = self.database.sessions()
            self.session.begin()
            self._committed = False
            # Each transaction starts from the given cause: a flow this unit of work starts
            # (a timer pass, say) gets a new correlation id per transaction, not one for all.
            self.cause = self._given_cause
            if self.consumed is not None:
                consumer, event = self.consumed
                if not claim_inbox(
                    self.session, self.tables, consumer, event.event_id, self.clock()
                ):
                    raise DuplicateEvent(f"{consumer} already applied event {event.event_id}")
            self.opened(self.session)
        except BaseException:
            self._close()
            raise
        return self

    def opened(self, session: Session) -> None:
        """Hook for subclasses: build repositories over ``session``."""

    def __exit__(self, *exc_info) -> None:
        self._close()
        if self._committed:
            self.consumed = None  # claimed for good: later blocks are plain transactions
            self.on_commit()

    def _close(self) -> None:
        session, self.session = self.session, None
        try:
            if session is not None:
                if not self._committed:
                    session.rollback()
                session.close()
        finally:
            self.database.write_lock.__exit__(None, None, None)

    def commit(self) -> None:
        self.session.commit()
        self._committed = True

    def rollback(self) -> None:
        self.session.rollback()

    def insert_later(self, statement: Any, values: Mapping[str, Any]) -> None:
        """Insert one row with ``statement`` (a constant INSERT, values as parameters).

        Here it is executed at once. A batched unit of work (``@handle_events``) collects
        the rows instead and inserts those of each statement with one executemany just
        before its commit: they are not visible to reads earlier in the batch.
        """
        self.session.execute(statement, values)

    def emit(
        self,
        type_: str,
        payload: Mapping[str, Any],
        *,
        park_id: str | None = None,
        version: int = 1,
    ) -> dict[str, Any]:
        """Stage ``<source>.events`` / ``type_``; checked against the contract now."""
        return self.send(
            events_exchange(self.source), type_, type_, payload, park_id=park_id, version=version
        )

    def send(
        self,
        exchange: str,
        routing_key: str,
        type_: str,
        payload: Mapping[str, Any],
        *,
        park_id: str | None = None,
        version: int = 1,
    ) -> dict[str, Any]:
        """Stage an event for any exchange (e.g. a work item on ``ticketing.work``)."""
        if self.cause.correlation_id is None:
            # This unit of work starts a flow: all its events share one new correlation id.
            self.cause = replace(self.cause, correlation_id=self.new_id())
        now = self.clock()
        envelope = build(
            self.source,
            type_,
            payload,
            occurred_at=now,
            correlation_id=self.cause.correlation_id,
            causation_id=self.cause.causation_id,
            park_id=park_id if park_id is not None else self.cause.park_id,
            version=version,
            new_id=self.new_id,
        )
        self._stage(
            exchange=exchange,
            routing_key=routing_key,
            envelope=envelope,
            body=encode(envelope),
            created_at=now,
        )
        return envelope

    def _stage(self, **row: Any) -> None:
        """Insert one outbox row now (a batched unit of work collects them instead and
        inserts them all at its commit: ``shared/messaging/batch.py``)."""
        stage(self.session.connection(), self.tables.outbox, **row)
