"""Batched units of work: ``@handle_events(source, type, batch=N)``, the opt-in sibling of
``@handle_event`` for subscriptions where volume is real.

A handler written for ``@handle_event`` — one event, ``with self.uow as uow: …;
uow.commit()`` — runs unchanged under ``@handle_events``. What changes is around it:

* **Batches are what is already waiting.** Messages are read and validated as they
  arrive (a malformed one is dead-lettered at once and never joins a batch) and wait in a
  small in-memory queue. Whenever a batch slot is free (at most ``concurrency`` batches at
  once, by default the container's ``max_workers``), up to ``N`` waiting messages become
  one batch. Nothing waits to fill a batch: at low load a batch is one message, and a
  batch of one is exactly ``@handle_event``'s path (the same unit of work, claim, commit,
  ack, retry and dead letter). A batch is also bounded by the prefetch count.
* **One transaction per batch.** The unit of work claims every event of the batch in the
  inbox with one multi-row ``INSERT … ON CONFLICT DO NOTHING RETURNING`` (duplicates inside
  the batch and against the inbox drop out), calls the handler once per fresh event
  inside that transaction (each ``with uow:`` block is a step of it, its ``commit()``
  marks the step done, its events name that event as their cause), inserts the rows the
  handler gave ``uow.insert_later`` with one executemany per statement and the outbox
  rows of the whole batch with one multi-row INSERT, and commits once.
* **One ack.** After the commit the batch is acked with one ``basic.ack`` with
  ``multiple`` when that acks nothing else — every message of the channel still
  unsettled up to the batch's highest delivery tag belongs to the batch — and one by one
  otherwise (another batch, or a message being retried, holds a lower tag).
* **Failure isolation.** If anything of the batch fails — a handler raises, leaves its
  block without ``commit()`` or calls ``rollback()`` (one step cannot be undone alone),
  the commit fails — the transaction is rolled back and the same messages are applied
  one at a time through the normal path, in order: a bad message gets exactly its own
  retry or dead letter, and the good ones are applied once.
"""

import functools
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

import amqp
import structlog
from nameko.exceptions import ContainerBeingKilled
from nameko.extensions import register_entrypoint
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from shared.contract import Event
from shared.logs import bind_event
from shared.messaging.consumer import HandleEvent, _connection_alive, _RawMessageConsumer
from shared.messaging.errors import DuplicateEvent, MalformedMessage, ParkError
from shared.messaging.outbox import stage_many
from shared.messaging.tables import MessagingTables
from shared.messaging.unit_of_work import Cause, UnitOfWork

log = structlog.get_logger(__name__)

MAX_BATCH = 1000


class BatchAbandoned(ParkError):
    """A handler left its unit of work's block without ``commit()``, or rolled back,
    inside a batch: its step cannot be undone alone, so the whole batch is rolled back and
    its messages are applied one at a time (where leaving without commit is a rollback)."""


# -- the inbox claim of a batch ----------------------------------------------------------


def claim_inbox_many(
    session: Session,
    tables: MessagingTables,
    consumer: str,
    event_ids: Sequence[str],
    now: datetime,
) -> set[str]:
    """Record ``(consumer, event_id)`` for each id in one statement; returns the ids
    claimed now (the others were already there: duplicates).

    The ids are inserted in sorted order, the same for every transaction, so two
    instances claiming overlapping batches on PostgreSQL wait for each other instead of
    deadlocking (the second then finds the first one's rows, or claims them if it rolled
    back).
    """
    unique = sorted(set(event_ids))
    if not unique:
        return set()
    connection = session.connection()
    statement = _claim_many_statement(tables.inbox, connection.dialect.name)
    values = [
        {"consumer": consumer, "event_id": event_id, "processed_at": now} for event_id in unique
    ]
    return {row[0] for row in connection.execute(statement, values)}


@functools.cache
def _claim_many_statement(inbox, dialect: str):
    """``INSERT … ON CONFLICT DO NOTHING RETURNING event_id``, executed with many
    parameter sets: SQLAlchemy's "insertmanyvalues" makes it one multi-row INSERT on
    PostgreSQL and on SQLite (RETURNING needs SQLite ≥ 3.35)."""
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    return insert(inbox).on_conflict_do_nothing().returning(inbox.c.event_id)


# -- the unit of work of a batch ---------------------------------------------------------


@dataclass
class _Batch:
    consumer: str
    events: tuple[Event, ...]
    open: bool = False
    in_block: bool = False
    block_committed: bool = False
    staged: list[dict[str, Any]] = field(default_factory=list)
    # insert_later: id(statement) → (statement, rows), in the order first used
    deferred: dict[int, tuple[Any, list[Mapping[str, Any]]]] = field(default_factory=dict)


class _BatchedUnitOfWork:
    """Mixed into a service's unit-of-work class by :func:`batched`: while a batch is
    open, ``with uow:`` blocks are steps of the batch's one transaction."""

    _batch: _Batch | None = None

    def expect_batch(self, consumer: str, events: Sequence[Event]) -> None:
        self._batch = _Batch(consumer, tuple(events))

    def open_batch(self) -> list[Event]:
        """Begin the transaction and claim the batch; returns its fresh events, in order."""
        batch = self._batch
        super().__enter__()  # the transaction (and SQLite's write lock) for the whole batch
        try:
            claimed = claim_inbox_many(
                self.session,
                self.tables,
                batch.consumer,
                [event.event_id for event in batch.events],
                self.clock(),
            )
        except BaseException:
            super().__exit__(None, None, None)
            raise
        batch.open = True
        fresh = []
        for event in batch.events:
            if event.event_id in claimed:
                claimed.discard(event.event_id)  # a second copy in the batch is a duplicate
                fresh.append(event)
        return fresh

    def handling(self, event: Event) -> None:
        """The next steps are this event's: its emits name it as their cause."""
        self.cause = Cause.of(event)

    def commit_batch(self) -> None:
        batch = self._batch
        for statement, rows in batch.deferred.values():  # insert_later: one executemany each
            self.session.execute(statement, rows)
        stage_many(self.session.connection(), self.tables.outbox, batch.staged)
        batch.open = False
        super().commit()

    def close_batch(self) -> None:
        """Roll back unless committed, end the transaction; nudge the relay if committed."""
        if self._batch is not None:
            self._batch.open = False
        super().__exit__(None, None, None)

    # ``with uow:`` inside a batch ------------------------------------------------------

    def _batching(self) -> bool:
        return self._batch is not None and self._batch.open

    def __enter__(self):
        if not self._batching():
            return super().__enter__()
        self._batch.in_block, self._batch.block_committed = True, False
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        if not self._batching():
            return super().__exit__(exc_type, exc, traceback)
        self._batch.in_block = False
        if exc_type is None and not self._batch.block_committed:
            raise BatchAbandoned("the handler left its unit of work without commit()")
        return None

    def commit(self) -> None:
        if not self._batching():
            return super().commit()
        self._batch.block_committed = True
        return None

    def rollback(self) -> None:
        if not self._batching():
            return super().rollback()
        raise BatchAbandoned("the handler rolled back its unit of work")

    def insert_later(self, statement: Any, values: Mapping[str, Any]) -> None:
        if not self._batching():
            return super().insert_later(statement, values)
        self._batch.deferred.setdefault(id(statement), (statement, []))[1].append(values)
        return None

    def _stage(self, **row: Any) -> None:
        if not self._batching():
            return super()._stage(**row)
        self._batch.staged.append(row)
        return None


@functools.cache
def batched(uow_class: type[UnitOfWork]) -> type[UnitOfWork]:
    """The service's unit-of-work class (its repositories and all) able to hold a batch."""
    return type(f"Batched{uow_class.__name__}", (_BatchedUnitOfWork, uow_class), {})


def _batch_unit(service: Any) -> _BatchedUnitOfWork:
    units = [value for value in vars(service).values() if isinstance(value, _BatchedUnitOfWork)]
    if len(units) != 1:
        raise RuntimeError(
            "a @handle_events handler needs exactly one UnitOfWorkProvider on its service "
            f"(found {len(units)})"
        )
    return units[0]


def apply_batch(handler: Callable[[Any, Event], Any], service: Any, events) -> Any:
    """Run ``handler`` — written for one event — over a batch, in one transaction.

    A single event (a batch of one, or a message applied on its own after its batch
    failed) is simply ``handler(service, event)``: ``@handle_event``'s path. For a batch,
    returns the ids of the events applied now; raises :class:`DuplicateEvent` when every
    one of them had been applied before.
    """
    if isinstance(events, Event):
        return handler(service, events)
    unit = _batch_unit(service)
    fresh = unit.open_batch()
    try:
        for event in fresh:
            bind_event(event.event_id, event.type, event.correlation_id)
            unit.handling(event)
            handler(service, event)
        unit.commit_batch()
    finally:
        unit.close_batch()
    if not fresh:
        raise DuplicateEvent(f"every event of the batch was already applied ({len(events)})")
    return frozenset(event.event_id for event in fresh)


# -- the consumer: outstanding delivery tags and the multiple ack ------------------------


class _BatchConsumer(_RawMessageConsumer):
    """Knows which delivery tags of its channel are unsettled, to ack a batch with one
    ``multiple`` ack only when that cannot ack anything outside the batch."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.outstanding: dict[Any, set[int]] = {}  # channel → unsettled delivery tags

    def _on_raw_message(self, message) -> None:
        self.outstanding.setdefault(message.channel, set()).add(message.delivery_tag)
        super()._on_raw_message(message)

    def _settled(self, message) -> None:
        tags = self.outstanding.get(message.channel)
        if tags is not None:
            tags.discard(message.delivery_tag)
            if not tags:
                del self.outstanding[message.channel]

    def ack_message(self, message) -> None:
        try:
            super().ack_message(message)
        finally:
            self._settled(message)

    def requeue_message(self, message) -> None:
        try:
            super().requeue_message(message)
        finally:
            self._settled(message)

    def reject_message(self, message) -> None:
        try:
            super().reject_message(message)
        finally:
            self._settled(message)

    def ack_many(self, messages: Sequence[Any]) -> None:
        """Ack ``messages`` (one batch): per channel, one ``basic.ack`` with ``multiple``
        up to the highest tag if every unsettled tag up to it is in the batch; else each."""
        self._forget_closed_channels()
        by_channel: dict[Any, list[Any]] = {}
        for message in messages:
            by_channel.setdefault(message.channel, []).append(message)
        for channel, group in by_channel.items():
            if len(group) > 1 and self.acks_only(channel, group):
                self._ack_multiple(group)
            else:
                for message in group:
                    self.ack_message(message)

    def acks_only(self, channel: Any, group: Sequence[Any]) -> bool:
        """Whether a ``multiple`` ack up to the group's highest tag acks the group alone."""
        tags = {message.delivery_tag for message in group}
        highest = max(tags)
        outstanding = self.outstanding.get(channel, set())
        return all(tag in tags for tag in outstanding if tag <= highest)

    def _ack_multiple(self, group: Sequence[Any]) -> None:
        highest = max(group, key=lambda message: message.delivery_tag)
        try:
            if highest.channel.connection:
                highest.ack(multiple=True)
                for message in group:
                    message._state = "ACK"  # acked by the multiple ack: never ack it again
        except (OSError, amqp.exceptions.ConnectionError) as error:
            log.warning("ack lost with the connection; the broker redelivers", error=repr(error))
        finally:
            for message in group:
                self._settled(message)

    def _forget_closed_channels(self) -> None:
        """Tags of a channel that is gone can never be settled: the broker took them back."""
        for channel in [c for c in self.outstanding if not getattr(c, "is_open", False)]:
            del self.outstanding[channel]


# -- the entrypoint ------------------------------------------------------------------------


def _check_bound(name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_BATCH:
        raise ValueError(f"{name} must be an integer from 1 to {MAX_BATCH}, not {value!r}")


@dataclass(frozen=True)
class _Item:
    message: Any
    event: Event
    started: float


class HandleEvents(HandleEvent):
    """The entrypoint behind :func:`handle_events`."""

    consumer_cls = _BatchConsumer

    def __init__(
        self, source: str, type_: str, *, batch: int, concurrency: int | None = None, **kwargs
    ):
        _check_bound("batch", batch)
        if concurrency is not None:
            _check_bound("concurrency", concurrency)
        self.batch_size = batch
        self.concurrency = concurrency
        super().__init__(source, type_, **kwargs)

    def setup(self) -> None:
        super().setup()
        self._waiting: deque[_Item] = deque()
        self._arrived = threading.Event()
        self._slots = threading.Semaphore(self.concurrency or self.container.max_workers)

    def start(self) -> None:
        super().start()
        self.container.spawn_managed_thread(
            self._make_batches, identifier=f"batches[{self.subscription.queue}]"
        )

    def stop(self) -> None:
        super().stop()  # no new messages; the batches in hand finish
        self._arrived.set()  # the batch maker sees _stopping and ends
        while self._waiting:  # taken but not yet in a batch: back to the queue
            self.consumer.requeue_message(self._waiting.popleft().message)

    def kill(self) -> None:
        super().kill()
        self._arrived.set()

    # -- receiving: validate first, then wait for a batch ----------------------------------

    def handle_message(self, body: None, message) -> None:
        started = time.monotonic()
        try:
            event = self.read(message)
        except MalformedMessage as error:  # never joins a batch
            reason, attempts = error.reason, self._attempts(message) + 1
            self.container.spawn_managed_thread(
                lambda: self._count(self._dead_letter(message, reason, attempts), started)
            )
            return
        self._waiting.append(_Item(message, event, started))
        self._arrived.set()

    def _make_batches(self) -> None:
        """Whenever a batch slot is free, what is waiting (up to the batch size) is a batch."""
        while True:
            self._arrived.wait()
            if self._stopping.is_set():
                return
            self._slots.acquire()
            if self._stopping.is_set():
                self._slots.release()
                return
            items = [
                self._waiting.popleft() for _ in range(min(self.batch_size, len(self._waiting)))
            ]
            if not self._waiting:
                self._arrived.clear()
            if not items:
                self._slots.release()
                continue
            self._spawn(items)

    def _spawn(self, items: list[_Item]) -> None:
        first = items[0].event
        # A batch of one is @handle_event's worker: the event itself is the argument.
        argument = first if len(items) == 1 else tuple(item.event for item in items)
        try:
            self.container.spawn_worker(
                self,
                (argument,),
                {},
                context_data={"correlation_id": first.correlation_id, "event_id": first.event_id},
                handle_result=partial(self._batch_result, items),
            )
        except ContainerBeingKilled:
            for item in items:
                self.consumer.requeue_message(item.message)
            self._slots.release()

    # -- outcome -------------------------------------------------------------------------

    def _batch_result(self, items: list[_Item], worker_ctx, result=None, exc_info=None):
        handed_over = False
        try:
            if len(items) == 1:
                item = items[0]
                return self.handle_result(
                    item.message, worker_ctx, result, exc_info, started=item.started
                )
            if exc_info is None:
                try:
                    self._before_ack(worker_ctx)
                except Exception as error:
                    exc_info = (type(error), error, error.__traceback__)
            if exc_info is None or isinstance(exc_info[1], DuplicateEvent):
                self.consumer.ack_many([item.message for item in items])
                self._count_applied(items, result if exc_info is None else frozenset())
                return result, exc_info
            log.warning(
                "batch failed and was rolled back; applying its messages one at a time",
                queue=self.subscription.queue,
                size=len(items),
                error=repr(exc_info[1]),
            )
            self.container.spawn_managed_thread(
                partial(self._one_at_a_time, items),
                identifier=f"one_at_a_time[{self.subscription.queue}]",
            )
            handed_over = True
            return result, exc_info
        finally:
            if not handed_over:
                self._slots.release()

    def _count_applied(self, items: list[_Item], applied: frozenset) -> None:
        counted = set()
        for item in items:
            event_id = item.event.event_id
            fresh = event_id in applied and event_id not in counted
            counted.add(event_id)
            self._count("applied" if fresh else "duplicate", item.started)

    def _one_at_a_time(self, items: list[_Item]) -> None:
        """Apply each message of a failed batch on its own, in order, through the normal
        path: its own retry or dead letter, and one effect for the good ones."""
        try:
            for item in items:
                if not _connection_alive(item.message):
                    continue  # the broker takes it back and redelivers it
                done = threading.Event()

                def settle(worker_ctx, result=None, exc_info=None, item=item, done=done):
                    try:
                        return self.handle_result(
                            item.message, worker_ctx, result, exc_info, started=item.started
                        )
                    finally:
                        done.set()

                try:
                    self.container.spawn_worker(
                        self,
                        (item.event,),
                        {},
                        context_data={
                            "correlation_id": item.event.correlation_id,
                            "event_id": item.event.event_id,
                        },
                        handle_result=settle,
                    )
                except ContainerBeingKilled:
                    self.consumer.requeue_message(item.message)
                    continue
                done.wait()
        finally:
            self._slots.release()


def handle_events(
    source: str, type_: str, *, batch: int, concurrency: int | None = None, **kwargs: Any
):
    """``@handle_event``, batched: up to ``batch`` waiting messages in one transaction.

    The decorated method is written for one event, as for ``@handle_event``; nameko calls
    it with a batch, and :func:`apply_batch` runs it once per fresh event of the batch
    inside one unit of work. ``concurrency`` caps the batches in flight at once (default:
    the container's ``max_workers``); keep the prefetch count at least ``concurrency ×
    batch`` for batches to fill under load.
    """
    entrypoint = HandleEvents(source, type_, batch=batch, concurrency=concurrency, **kwargs)

    def decorate(handler):
        @functools.wraps(handler)
        def run(service, events):
            return apply_batch(handler, service, events)

        register_entrypoint(run, entrypoint)
        return run

    return decorate
