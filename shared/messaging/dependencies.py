"""nameko dependency providers of the messaging core: the unit of work (with its outbox
relay) and the per-worker log context. The only place that reads ``nameko.config``."""

import gc
from collections.abc import Callable
from datetime import datetime, timedelta

import structlog
from nameko import config
from nameko.extensions import DependencyProvider
from sqlalchemy import delete

from shared.clock import utcnow
from shared.db import Database
from shared.logs import bind_event, configure_logging
from shared.messaging.amqp_client import BrokerAddress, ConfirmingPublisher
from shared.messaging.batch import batched
from shared.messaging.consumer import HandleEvent
from shared.messaging.outbox import Relay, RelayLoop
from shared.messaging.tables import MessagingTables
from shared.messaging.unit_of_work import Cause, UnitOfWork, claim_inbox
from shared.settings import MessagingSettings, database_url

log = structlog.get_logger(__name__)

_heap_frozen = False


def freeze_startup_heap() -> None:
    """Move what exists once a service has started (modules, compiled statements,
    schemas, the container) out of the garbage collector's reach, once per process.

    Every full collection walks every object that survived the earlier ones: in a
    service process a full collection took 52–81 ms, during which no greenthread runs,
    so the events in flight wait (docs/performance.md); with the start-up heap frozen it
    takes 2–4 ms. Garbage is collected first; what is frozen lives as long as the
    process anyway. Later starts in the same process (tests) change nothing.
    """
    global _heap_frozen
    if not _heap_frozen:
        _heap_frozen = True
        gc.collect()
        gc.freeze()


class UnitOfWorkProvider(DependencyProvider):
    """Gives each worker a :class:`UnitOfWork` on the service's own database, and runs
    the service's outbox relay in the background, nudged after every commit.

    For a ``@handle_event`` worker, the unit of work claims the consumed event in the
    inbox and its events inherit the consumed event's correlation id.
    """

    def __init__(
        self,
        tables: MessagingTables,
        uow_class: type[UnitOfWork] = UnitOfWork,
        clock: Callable[[], datetime] = utcnow,
    ):
        self.tables = tables
        self.uow_class = uow_class
        self.clock = clock
        self._units: dict[object, UnitOfWork] = {}

    def setup(self) -> None:
        self.service = self.container.service_name
        self.settings = MessagingSettings.from_config(config)
        self.database = Database(database_url(config, self.service))
        publisher = ConfirmingPublisher(BrokerAddress.from_uri(self.settings.amqp_uri))
        self.relay = Relay(
            self.database,
            self.tables.outbox,
            publisher,
            clock=lambda: self.clock(),
            batch_size=self.settings.outbox_batch_size,
            name=self.service,
            quarantine_after=self.settings.outbox_quarantine_after,
        )
        self.relay_loop = RelayLoop(
            self.relay,
            poll_interval=self.settings.outbox_poll_interval,
            housekeeping=self.prune_history,
        )

    def start(self) -> None:
        freeze_startup_heap()
        self._relay_thread = None
        if self.settings.relay_enabled:
            self._relay_thread = self.container.spawn_managed_thread(
                self.relay_loop.run, identifier="outbox-relay"
            )

    def stop(self) -> None:
        # Let the relay finish the batch in hand, so a clean stop leaves nothing unsent.
        self.relay_loop.stop()
        if self._relay_thread is not None:
            self._relay_thread.wait()
        self.database.dispose()

    def kill(self) -> None:
        self.relay_loop.stop()

    def get_dependency(self, worker_ctx) -> UnitOfWork:
        consumed, cause = None, Cause(worker_ctx.context_data.get("correlation_id"))
        if isinstance(worker_ctx.entrypoint, HandleEvent) and isinstance(worker_ctx.args[0], tuple):
            return self._batch_unit(worker_ctx)  # a batch of @handle_events (batch.py)
        if isinstance(worker_ctx.entrypoint, HandleEvent):
            event = worker_ctx.args[0]
            consumed = (worker_ctx.entrypoint.subscription.queue, event)
            cause = Cause.of(event)
        unit = self.uow_class(
            self.database,
            self.tables,
            source=self.service,
            clock=lambda: self.clock(),
            cause=cause,
            consumed=consumed,
            on_commit=self.relay_loop.nudge,
        )
        self._units[worker_ctx] = unit
        return unit

    def _batch_unit(self, worker_ctx) -> UnitOfWork:
        """One unit of work for a whole batch: it claims every event of it at once."""
        unit = batched(self.uow_class)(
            self.database,
            self.tables,
            source=self.service,
            clock=lambda: self.clock(),
            on_commit=self.relay_loop.nudge,
        )
        unit.expect_batch(worker_ctx.entrypoint.subscription.queue, worker_ctx.args[0])
        self._units[worker_ctx] = unit
        return unit

    def before_ack(self, worker_ctx) -> None:
        """Called by ``@handle_event`` after a handler succeeded, *before* the ack.

        A handler that succeeded without committing a unit of work (it had nothing to
        change) still gets its inbox row, so a redelivery is recognised. This must happen
        before the ack (nameko's ``worker_result`` runs after it): if the claim fails,
        the message is retried instead of acked without a record.
        """
        unit = self._units.get(worker_ctx)
        if unit is not None and unit.consumed is not None:
            consumer, event = unit.consumed
            with self.database.transaction() as session:
                claim_inbox(session, self.tables, consumer, event.event_id, self.clock())

    def worker_teardown(self, worker_ctx) -> None:
        self._units.pop(worker_ctx, None)

    def prune_history(self) -> None:
        """Sent outbox rows past their retention, inbox rows past the replay window."""
        sent = self.relay.prune(timedelta(days=self.settings.outbox_retention_days))
        cutoff = self.clock() - timedelta(days=self.settings.inbox_retention_days)
        with self.database.transaction() as session:
            seen = session.execute(
                delete(self.tables.inbox).where(self.tables.inbox.c.processed_at < cutoff)
            ).rowcount
        log.info("history pruned", outbox_rows=sent, inbox_rows=seen)


class LogContext(DependencyProvider):
    """Configures JSON logging for the service and binds each worker's event ids."""

    def setup(self) -> None:
        configure_logging(self.container.service_name, config.get("LOG_LEVEL", "INFO"))

    def worker_setup(self, worker_ctx) -> None:
        if isinstance(worker_ctx.entrypoint, HandleEvent):
            event = worker_ctx.args[0]
            if isinstance(event, tuple):  # a batch: each event is bound as it is handled
                event = event[0]
            bind_event(event.event_id, event.type, event.correlation_id)
        else:
            data = worker_ctx.context_data
            bind_event(
                data.get("event_id"), worker_ctx.entrypoint.method_name, data.get("correlation_id")
            )

    def worker_teardown(self, worker_ctx) -> None:
        structlog.contextvars.clear_contextvars()


class BusinessCalendarProvider(DependencyProvider):
    """The business calendar, with operator-loaded years from ``CALENDAR_DATA_DIR``."""

    def setup(self) -> None:
        from pathlib import Path

        from shared.business_calendar import BusinessCalendar

        directory = config.get("CALENDAR_DATA_DIR")
        if directory and Path(directory).is_dir():
            self.calendar = BusinessCalendar.from_directory(directory)
        else:
            log.warning(
                "no calendar data directory; chinese-calendar years only", directory=directory
            )
            self.calendar = BusinessCalendar()

    def get_dependency(self, worker_ctx):
        return self.calendar


class MetricsEndpoint(DependencyProvider):
    """Serves the process's Prometheus metrics on ``METRICS_PORTS[<service>]``, if set."""

    def setup(self) -> None:
        port = (config.get("METRICS_PORTS") or {}).get(self.container.service_name)
        if port:
            from shared.metrics import serve

            serve(int(port))
