"""The holdings projection: one JSON document per enterprise."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from services.buyback import orm
from services.buyback.domain.holdings import Holding
from services.buyback.repository.base import AbstractHoldingRepository
from services.buyback.repository.sql import locked


class HoldingRepository(AbstractHoldingRepository):
    def __init__(self, session: Session):
        self.session = session
        self._known: set[str] = set()

    def get(self, enterprise_id: str, *, lock: bool = False) -> Holding | None:
        statement = select(orm.holdings.c.state).where(
            orm.holdings.c.enterprise_id == enterprise_id
        )
        state = self.session.execute(
            locked(statement, self.session) if lock else statement
        ).scalar_one_or_none()
        if state is None:
            return None
        self._known.add(enterprise_id)
        return Holding.from_state(enterprise_id, state)

    def get_for_update(self, enterprise_id: str, now: datetime) -> Holding:
        dialect = self.session.get_bind().dialect.name
        statement = (pg_insert if dialect == "postgresql" else sqlite_insert)(orm.holdings)
        self.session.execute(
            statement.values(
                enterprise_id=enterprise_id,
                park_id=None,
                state=Holding(enterprise_id).to_state(),
                updated_at=now,
            ).on_conflict_do_nothing()
        )
        self._known.add(enterprise_id)
        return self.get(enterprise_id, lock=True)

    def save(self, holding: Holding, now: datetime) -> None:
        values = {"park_id": holding.park_id, "state": holding.to_state(), "updated_at": now}
        if holding.enterprise_id in self._known:
            self.session.execute(
                update(orm.holdings)
                .where(orm.holdings.c.enterprise_id == holding.enterprise_id)
                .values(**values)
            )
        else:
            self.session.execute(
                insert(orm.holdings).values(enterprise_id=holding.enterprise_id, **values)
            )
            self._known.add(holding.enterprise_id)

    def all(self) -> list[Holding]:
        rows = self.session.execute(select(orm.holdings.c.enterprise_id, orm.holdings.c.state))
        return [Holding.from_state(row.enterprise_id, row.state) for row in rows]

    def of_park(self, park_id: str) -> list[Holding]:
        rows = self.session.execute(
            select(orm.holdings.c.enterprise_id, orm.holdings.c.state).where(
                orm.holdings.c.park_id == park_id
            )
        )
        return [Holding.from_state(row.enterprise_id, row.state) for row in rows]

    def parks(self) -> list[str]:
        rows = self.session.execute(
            select(orm.holdings.c.park_id)
            .where(orm.holdings.c.park_id.is_not(None))
            .distinct()
            .order_by(orm.holdings.c.park_id)
        )
        return list(rows.scalars())
