"""A unit of work for handler tests: billing's real unit of work on a throw-away SQLite
file (so every query and every contract check runs), a clock the test moves, the demo
park's terms, and the events it emitted read back from its outbox."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from services.billing import orm
from services.billing.domain.terms import BillingTerms
from services.billing.orm import messaging
from services.billing.unit_of_work import BillingRules, BillingUnitOfWork
from shared.clock import as_utc
from shared.db import Database

PARK = "aux-shangjie"
#: The demo park's terms with monthly instalments and 30 days to pay (the issue's worked
#: example); the park file's own are tested by the service tests.
TERMS = BillingTerms(instalment_interval_months=1, payment_due_days=30, invoice_prefix="AUX")


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> None:
        self.now += timedelta(**delta)

    def set_park_date(self, year: int, month: int, day: int) -> None:
        """10:00 in the park (02:00 UTC) of that day."""
        self.now = datetime(year, month, day, 2, 0, tzinfo=UTC)


class FakeUnitOfWork(BillingUnitOfWork):
    """What the handlers get; ``events()`` are the emitted ones, oldest first."""

    def __init__(self, path: Path, clock: Clock | None = None, park_id: str = PARK):
        self.path = path
        database = Database(f"sqlite:///{path}")
        orm.metadata.create_all(database.engine)
        self.clock_ = clock or Clock(datetime(2026, 11, 2, 2, 0, tzinfo=UTC))
        super().__init__(
            database,
            messaging,
            source="billing",
            clock=lambda: self.clock_(),
            rules=BillingRules({park_id: TERMS}),
        )
        from shared.messaging.unit_of_work import Cause

        self._given_cause = Cause(park_id=park_id)

    def events(self, type_: str | None = None) -> list[dict]:
        with self.database.transaction() as session:
            rows = session.execute(
                select(messaging.outbox.c.body).order_by(messaging.outbox.c.id)
            ).all()
        found = [json.loads(row[0]) for row in rows]
        return [e for e in found if type_ is None or e["type"] == type_]

    def payloads(self, type_: str) -> list[dict]:
        return [e["payload"] for e in self.events(type_)]

    def rows(self, table) -> list[dict]:
        with self.database.transaction() as session:
            return [dict(r._mapping) for r in session.execute(select(table))]

    def when(self, instant) -> datetime:
        return as_utc(instant)
