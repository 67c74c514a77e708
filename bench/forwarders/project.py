"""The project's one-hop forwarder: ``@handle_event`` → inbox claim + one state row +
outbox row in one transaction → the relay publishes ``benchfwd.events``/``work_forwarded``.

    nameko run --config bench.yaml bench.forwarders.project:Forwarder
"""

from sqlalchemy import MetaData, insert

from bench import contract  # noqa: F401  (registers the bench events)
from bench.contract import FORWARDER_SERVICE, GENERATOR_SOURCE, INPUT_TYPE, OUTPUT_TYPE
from bench.items import items_table
from shared.messaging.consumer import handle_event
from shared.messaging.dependencies import LogContext, UnitOfWorkProvider
from shared.messaging.tables import add_messaging_tables

metadata = MetaData()
TABLES = add_messaging_tables(metadata)
items = items_table(metadata)

RECORD_ITEM = insert(items)


def forward_item(uow, event) -> None:
    """The use case: record the item (the small state write) and pass it on."""
    payload = event.payload
    # A constant statement with its values as parameters: SQLAlchemy compiles it once.
    uow.session.execute(
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


class Forwarder:
    """Records and forwards every ``benchgen`` ``work_requested``."""

    name = FORWARDER_SERVICE
    uow = UnitOfWorkProvider(TABLES)
    logs = LogContext()

    @handle_event(GENERATOR_SOURCE, INPUT_TYPE)
    def on_work_requested(self, event):
        with self.uow as uow:
            forward_item(uow, event)
            uow.commit()


SUBSCRIPTIONS = (
    (FORWARDER_SERVICE, GENERATOR_SOURCE, INPUT_TYPE),
    ("benchsink", FORWARDER_SERVICE, OUTPUT_TYPE),  # the bench's sink reads the outputs here
)
