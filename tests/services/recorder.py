"""Two small test-only services, ``alpha`` and ``beta``, that record the effects they
apply (one row per application, so a double effect shows as two rows)."""

import itertools
from collections import Counter

import eventlet
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, func, insert, select

from shared.contract import PayloadSchema, event
from shared.contract.fields import StrictInteger, Uuid
from shared.messaging.consumer import handle_event
from shared.messaging.dependencies import LogContext, UnitOfWorkProvider
from shared.messaging.errors import TransientFailure
from shared.messaging.tables import add_messaging_tables
from tests.services import contract  # noqa: F401  (registers the test events)

metadata = MetaData()
TABLES = add_messaging_tables(metadata)
effects = Table(
    "effects",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False),
    Column("thing_id", String(36), nullable=False),
    Column("correlation_id", String(36), nullable=False),
    Column("amount_fen", Integer, nullable=False),
    Column("applied_at", DateTime(timezone=True), nullable=False),
    Column("sender", String(100), nullable=True),  # the event's verified sender
)

failures: Counter = Counter()  # thing_id → failed attempts so far, for the flaky handler
noted: Counter = Counter()  # thing_id → runs of the handler that commits nothing
running = {"now": 0, "most": 0}  # slow handlers in flight at once


@event("probe", "thing_noted")
class ThingNoted(PayloadSchema):
    """A thing alpha only looks at: its handler changes nothing, commits nothing."""

    thing_id = Uuid(required=True)


@event("probe", "slow_thing")
class SlowThing(PayloadSchema):
    """A thing whose handler holds its transaction open ``pause_ms`` before committing."""

    thing_id = Uuid(required=True)
    pause_ms = StrictInteger(required=True, minimum=0, maximum=10_000)


_sequence = itertools.count()


def record(uow, event, amount_fen: int) -> None:
    uow.session.execute(
        insert(effects).values(
            event_id=event.event_id,
            thing_id=event.payload["thing_id"],
            correlation_id=event.correlation_id,
            amount_fen=amount_fen,
            applied_at=uow.clock(),
            sender=event.sender,
        )
    )


def effect_counts(connection) -> dict[str, int]:
    rows = connection.execute(
        select(effects.c.thing_id, func.count()).group_by(effects.c.thing_id)
    ).all()
    return dict(rows)


class Alpha:
    """Records probe things and forwards them to beta."""

    name = "alpha"
    uow = UnitOfWorkProvider(TABLES)
    logs = LogContext()

    @handle_event("probe", "thing_happened")
    def on_thing_happened(self, event):
        with self.uow as uow:
            record(uow, event, event.payload["amount_fen"])
            uow.emit(
                "thing_recorded",
                {
                    "thing_id": event.payload["thing_id"],
                    "amount_fen": event.payload["amount_fen"],
                    "recorded_by": self.name,
                },
            )
            uow.commit()

    @handle_event("probe", "flaky_thing")
    def on_flaky_thing(self, event):
        thing_id, fail_times = event.payload["thing_id"], event.payload["fail_times"]
        if fail_times < 0 or failures[thing_id] < fail_times:
            failures[thing_id] += 1
            raise TransientFailure(f"simulated outage #{failures[thing_id]} for {thing_id}")
        with self.uow as uow:
            record(uow, event, 0)
            uow.commit()

    @handle_event("probe", "thing_noted")
    def on_thing_noted(self, event):
        noted[event.payload["thing_id"]] += 1

    @handle_event("probe", "slow_thing")
    def on_slow_thing(self, event):
        running["now"] += 1
        running["most"] = max(running["most"], running["now"])
        try:
            with self.uow as uow:
                record(uow, event, 0)
                eventlet.sleep(event.payload["pause_ms"] / 1000)
                uow.commit()
        finally:
            running["now"] -= 1


class Beta:
    """Records what alpha forwards."""

    name = "beta"
    uow = UnitOfWorkProvider(TABLES)
    logs = LogContext()

    @handle_event("alpha", "thing_recorded")
    def on_thing_recorded(self, event):
        with self.uow as uow:
            record(uow, event, event.payload["amount_fen"])
            uow.commit()


SUBSCRIPTIONS = (
    ("alpha", "probe", "thing_happened"),
    ("alpha", "probe", "flaky_thing"),
    ("alpha", "probe", "thing_noted"),
    ("alpha", "probe", "slow_thing"),
    ("beta", "alpha", "thing_recorded"),
)
