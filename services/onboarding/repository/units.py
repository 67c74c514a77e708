"""The unit inventory: reading, locking and saving units, reloading a park's units from
its file, and occupancy figures.

Units are always locked in ``unit_id`` order, so two applications racing for
overlapping units queue up instead of deadlocking.
"""

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import fields
from datetime import date

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from services.onboarding import orm
from services.onboarding.domain.park import ParkDefinition
from services.onboarding.domain.park_reload import PRICE_FIELDS, ParkReload, plan_reload
from services.onboarding.domain.units import Unit, UnitStatus


class AbstractUnitRepository(ABC):
    """Units of the parks; ``lock=True`` holds them until the transaction ends."""

    @abstractmethod
    def get_many(
        self, park_id: str, unit_ids: Iterable[str], *, lock: bool = False
    ) -> dict[str, Unit]: ...

    @abstractmethod
    def save(self, units: Iterable[Unit]) -> None: ...

    @abstractmethod
    def held_by(
        self, enterprise_id: str, unit_ids: Iterable[str] | None = None, *, lock: bool = False
    ) -> list[Unit]: ...

    @abstractmethod
    def search(
        self, park_id: str, *, status: str | None = None, building: str | None = None
    ) -> list[Unit]: ...

    @abstractmethod
    def tenants_with_leases_over(self, today: date, limit: int = 100) -> list[str]:
        """Enterprises holding a lease whose end date is ``today`` or earlier."""

    @abstractmethod
    def occupancy(self, park_id: str, building: str | None = None) -> dict[str, dict[str, int]]: ...


_UNIT_FIELDS = [f.name for f in fields(Unit)]


class UnitRepository(AbstractUnitRepository):
    def __init__(self, session: Session):
        self.session = session

    def _select(self, park_id: str, unit_ids: Iterable[str], lock: bool):
        query = (
            select(orm.units)
            .where(orm.units.c.park_id == park_id, orm.units.c.unit_id.in_(sorted(set(unit_ids))))
            .order_by(orm.units.c.unit_id)
        )
        return query.with_for_update() if lock else query

    def get_many(
        self, park_id: str, unit_ids: Iterable[str], *, lock: bool = False
    ) -> dict[str, Unit]:
        rows = self.session.execute(self._select(park_id, unit_ids, lock)).mappings()
        return {row["unit_id"]: self._unit(row) for row in rows}

    @staticmethod
    def _unit(row) -> Unit:
        unit = Unit(**{name: row[name] for name in _UNIT_FIELDS})
        unit.status = UnitStatus(unit.status)
        return unit

    def save(self, units: Iterable[Unit]) -> None:
        for unit in units:
            self.session.execute(
                update(orm.units)
                .where(orm.units.c.park_id == unit.park_id, orm.units.c.unit_id == unit.unit_id)
                .values(
                    status=str(unit.status),
                    reserved_for=unit.reserved_for,
                    holder=unit.holder,
                    contract_id=unit.contract_id,
                    lease_ends_on=unit.lease_ends_on,
                )
            )

    def tenants_with_leases_over(self, today: date, limit: int = 100) -> list[str]:
        """Enterprises holding a lease whose end date is ``today`` or earlier."""
        return list(
            self.session.scalars(
                select(orm.units.c.holder)
                .where(
                    orm.units.c.status == str(UnitStatus.LEASED),
                    orm.units.c.lease_ends_on <= today,
                )
                .group_by(orm.units.c.holder)
                .order_by(func.min(orm.units.c.lease_ends_on), orm.units.c.holder)
                .limit(limit)
            )
        )

    def reload(self, park: ParkDefinition) -> ParkReload:
        """Bring ``park``'s stored units in line with its park file.

        Locks the park's units (in ``unit_id`` order, like every unit lock), plans the
        reload (:func:`~services.onboarding.domain.park_reload.plan_reload`) and applies
        it unless it was refused; the caller raises on a refusal, rolling back the whole
        load. Held units are never written here.
        """
        park_id = park.id
        stored = self.session.execute(
            select(orm.units)
            .where(orm.units.c.park_id == park_id)
            .order_by(orm.units.c.unit_id)
            .with_for_update()
        ).mappings()
        plan = plan_reload(park, {row["unit_id"]: self._unit(row) for row in stored})
        if plan.refused:
            return plan
        if plan.added:
            self.session.execute(
                insert(orm.units),
                [
                    {**{name: getattr(u, name) for name in _UNIT_FIELDS}, "status": str(u.status)}
                    for u in plan.added
                ],
            )
        for unit in plan.updated:
            self.session.execute(
                update(orm.units)
                .where(
                    orm.units.c.park_id == park_id,
                    orm.units.c.unit_id == unit.unit_id,
                    orm.units.c.status == str(UnitStatus.AVAILABLE),
                )
                .values(area_m2=unit.area_m2, **{f: getattr(unit, f) for f in PRICE_FIELDS})
            )
        if plan.removed:
            self.session.execute(
                delete(orm.units).where(
                    orm.units.c.park_id == park_id,
                    orm.units.c.unit_id.in_(plan.removed),
                    orm.units.c.status == str(UnitStatus.AVAILABLE),
                )
            )
        return plan

    def held_by(
        self, enterprise_id: str, unit_ids: Iterable[str] | None = None, *, lock: bool = False
    ) -> list[Unit]:
        query = select(orm.units).where(orm.units.c.holder == enterprise_id)
        if unit_ids is not None:
            query = query.where(orm.units.c.unit_id.in_(sorted(set(unit_ids))))
        query = query.order_by(orm.units.c.unit_id)
        if lock:
            query = query.with_for_update()
        return [self._unit(row) for row in self.session.execute(query).mappings()]

    def search(
        self, park_id: str, *, status: str | None = None, building: str | None = None
    ) -> list[Unit]:
        query = select(orm.units).where(orm.units.c.park_id == park_id)
        if status:
            query = query.where(orm.units.c.status == status)
        if building:
            query = query.where(orm.units.c.building == building)
        rows = self.session.execute(query.order_by(orm.units.c.unit_id)).mappings()
        return [self._unit(row) for row in rows]

    def occupancy(self, park_id: str, building: str | None = None) -> dict[str, dict[str, int]]:
        """Units and area by status: ``{"sold": {"units": 12, "area_m2": 3600}, …}``."""
        query = (
            select(orm.units.c.status, func.count(), func.sum(orm.units.c.area_m2))
            .where(orm.units.c.park_id == park_id)
            .group_by(orm.units.c.status)
        )
        if building:
            query = query.where(orm.units.c.building == building)
        figures = {str(status): {"units": 0, "area_m2": 0} for status in UnitStatus}
        for status, count, area in self.session.execute(query):
            figures[status] = {"units": count, "area_m2": int(area or 0)}
        return figures
