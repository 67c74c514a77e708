"""Admitted enterprises, their visits, and their chief service officers' load."""

from abc import ABC, abstractmethod

from sqlalchemy import case, func, insert, select, update
from sqlalchemy.orm import Session

from services.onboarding import orm
from services.onboarding.domain.enterprises import Enterprise, ServiceVisit
from shared.clock import as_utc


class AbstractEnterpriseRepository(ABC):
    """Admitted enterprises; whether one is active is the enterprise's own to say."""

    @abstractmethod
    def get(self, enterprise_id: str, *, lock: bool = False) -> Enterprise | None: ...

    @abstractmethod
    def by_uscc(self, park_id: str, uscc: str, *, lock: bool = False) -> Enterprise | None:
        """The enterprise of ``uscc`` admitted to the park, if any."""

    @abstractmethod
    def add(self, enterprise: Enterprise) -> None: ...

    @abstractmethod
    def save(self, enterprise: Enterprise) -> None: ...

    @abstractmethod
    def active_per_officer(self, park_id: str) -> dict[str, int]: ...

    @abstractmethod
    def per_officer(self, park_id: str) -> dict[str, tuple[int, int]]:
        """Officer id → (active, total) enterprises they serve in the park."""


_ENTERPRISE_COLUMNS = [
    "enterprise_id",
    "park_id",
    "application_id",
    "name",
    "uscc",
    "industry_code",
    "supply_chain_partner",
    "environmental_review_required",
    "chief_service_officer",
    "admitted_at",
    "production_started_on",
]


class EnterpriseRepository(AbstractEnterpriseRepository):
    def __init__(self, session: Session):
        self.session = session

    def get(self, enterprise_id: str, *, lock: bool = False) -> Enterprise | None:
        query = select(orm.enterprises).where(orm.enterprises.c.enterprise_id == enterprise_id)
        row = self.session.execute(query.with_for_update() if lock else query).mappings().first()
        if row is None:
            return None
        enterprise = Enterprise(**{name: row[name] for name in _ENTERPRISE_COLUMNS})
        enterprise.admitted_at = as_utc(enterprise.admitted_at)
        enterprise.unit_ids = tuple(
            self.session.scalars(
                select(orm.units.c.unit_id)
                .where(orm.units.c.holder == enterprise_id)
                .order_by(orm.units.c.unit_id)
            )
        )
        enterprise.visits = [
            ServiceVisit(v.visit_id, v.officer_id, v.visited_on, v.note)
            for v in self.session.execute(
                select(orm.service_visits)
                .where(orm.service_visits.c.enterprise_id == enterprise_id)
                .order_by(orm.service_visits.c.visited_on)
            )
        ]
        return enterprise

    def by_uscc(self, park_id: str, uscc: str, *, lock: bool = False) -> Enterprise | None:
        enterprise_id = self.session.scalar(
            select(orm.enterprises.c.enterprise_id)
            .where(orm.enterprises.c.park_id == park_id, orm.enterprises.c.uscc == uscc)
            .order_by(orm.enterprises.c.admitted_at)
            .limit(1)
        )
        return self.get(enterprise_id, lock=lock) if enterprise_id else None

    def add(self, enterprise: Enterprise) -> None:
        values = {name: getattr(enterprise, name) for name in _ENTERPRISE_COLUMNS}
        self.session.execute(insert(orm.enterprises).values(**values, active=enterprise.active))

    def save(self, enterprise: Enterprise) -> None:
        self.session.execute(
            update(orm.enterprises)
            .where(orm.enterprises.c.enterprise_id == enterprise.enterprise_id)
            .values(
                chief_service_officer=enterprise.chief_service_officer,
                production_started_on=enterprise.production_started_on,
                active=enterprise.active,
            )
        )
        stored = set(
            self.session.scalars(
                select(orm.service_visits.c.visit_id).where(
                    orm.service_visits.c.enterprise_id == enterprise.enterprise_id
                )
            )
        )
        new_visits = [v for v in enterprise.visits if v.visit_id not in stored]
        if new_visits:
            self.session.execute(
                insert(orm.service_visits),
                [
                    {
                        "visit_id": v.visit_id,
                        "enterprise_id": enterprise.enterprise_id,
                        "officer_id": v.officer_id,
                        "visited_on": v.visited_on,
                        "note": v.note,
                    }
                    for v in new_visits
                ],
            )

    def active_per_officer(self, park_id: str) -> dict[str, int]:
        rows = self.session.execute(
            select(orm.enterprises.c.chief_service_officer, func.count())
            .where(orm.enterprises.c.park_id == park_id, orm.enterprises.c.active.is_(True))
            .group_by(orm.enterprises.c.chief_service_officer)
        )
        return dict(rows.all())

    def per_officer(self, park_id: str) -> dict[str, tuple[int, int]]:
        active = func.sum(case((orm.enterprises.c.active.is_(True), 1), else_=0))
        rows = self.session.execute(
            select(orm.enterprises.c.chief_service_officer, active, func.count())
            .where(orm.enterprises.c.park_id == park_id)
            .group_by(orm.enterprises.c.chief_service_officer)
        )
        return {officer: (int(active or 0), total) for officer, active, total in rows}
