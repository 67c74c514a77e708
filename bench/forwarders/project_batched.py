"""The project's one-hop forwarder, batched: the same handler as ``project.py`` under
``@handle_events`` — up to ``BATCH`` waiting events in one transaction (one inbox claim,
their state rows, one outbox insert, one commit, one ack) → the relay publishes
``benchfwd.events``/``work_forwarded``.

    nameko run --config bench.yaml bench.forwarders.project_batched:BatchedForwarder

The rows ``project-pg-batched`` and ``project-sqlite-batched`` run it with a prefetch count
of ``PREFETCH`` (``CONCURRENCY`` × ``BATCH`` in flight, plus as much again arriving), the
one setting that differs from the unbatched rows.
"""

from bench import contract  # noqa: F401  (registers the bench events)
from bench.contract import FORWARDER_SERVICE, GENERATOR_SOURCE, INPUT_TYPE
from bench.forwarders.project import TABLES, forward_item
from shared.messaging.batch import handle_events
from shared.messaging.dependencies import LogContext, UnitOfWorkProvider

BATCH = 100
CONCURRENCY = 2  # one batch in the database while the next one is handled
PREFETCH = 2 * CONCURRENCY * BATCH


class BatchedForwarder:
    """Records and forwards every ``benchgen`` ``work_requested``, in batches."""

    name = FORWARDER_SERVICE
    uow = UnitOfWorkProvider(TABLES)
    logs = LogContext()

    @handle_events(GENERATOR_SOURCE, INPUT_TYPE, batch=BATCH, concurrency=CONCURRENCY)
    def on_work_requested(self, event):
        with self.uow as uow:  # one step of the batch's unit of work
            forward_item(uow, event)
            uow.commit()
