"""The project's one-hop forwarder, batched: ``project.py``'s handler under
``@handle_events`` — up to ``BATCH`` waiting events in one transaction (one inbox claim,
one executemany of their state rows, one outbox insert, one commit, one ack) → the relay
publishes ``benchfwd.events``/``work_forwarded``. The one difference in the use case: the
state row goes through ``uow.insert_later``.

    nameko run --config bench.yaml bench.forwarders.project_batched:BatchedForwarder

The rows ``project-pg-batched``, ``project-pg-batched-quorum`` and
``project-sqlite-batched`` run it with a prefetch count of ``PREFETCH`` (``CONCURRENCY`` ×
``BATCH`` in flight, plus as much again arriving); the unbatched rows keep the core's 50.
"""

from bench import contract  # noqa: F401  (registers the bench events)
from bench.contract import FORWARDER_SERVICE, GENERATOR_SOURCE, INPUT_TYPE, OUTPUT_TYPE
from bench.forwarders.project import RECORD_ITEM, TABLES
from shared.messaging.batch import handle_events
from shared.messaging.dependencies import LogContext, UnitOfWorkProvider

BATCH = 100
CONCURRENCY = 2  # one batch in the database while the next one is handled
PREFETCH = 2 * CONCURRENCY * BATCH


def forward_item(uow, event) -> None:
    """project.py's use case, its state row inserted with ``uow.insert_later``: in a batch,
    the rows of all its events go in one executemany before the commit (alone, at once)."""
    payload = event.payload
    uow.insert_later(
        RECORD_ITEM,
        {
            "item_id": payload["item_id"],
            "seq": payload["seq"],
            "amount_fen": payload["amount_fen"],
            "recorded_at": uow.clock(),
        },
    )
    uow.emit(
        OUTPUT_TYPE, {key: payload[key] for key in ("seq", "sent_ns", "item_id", "amount_fen")}
    )


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
