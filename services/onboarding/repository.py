"""SQLAlchemy 2 repositories of the onboarding service: rows ↔ domain objects.

Locks: ``lock=True`` reads take ``SELECT … FOR UPDATE`` on PostgreSQL (SQLite serialises
writers instead). Units are always locked in ``unit_id`` order, so two applications racing
for overlapping units queue up instead of deadlocking.
"""

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Collection, Iterable
from dataclasses import asdict, fields
from datetime import date, datetime
from functools import lru_cache

from sqlalchemy import case, delete, func, insert, select, update
from sqlalchemy.orm import Session

from services.onboarding import orm
from services.onboarding.domain.applications import (
    Application,
    ApplicationStatus,
    Decision,
    ReviewDecision,
)
from services.onboarding.domain.deficiencies import DeficiencyItem
from services.onboarding.domain.enterprises import Enterprise, ServiceVisit
from services.onboarding.domain.park import ParkDefinition
from services.onboarding.domain.park_definition import parse_park_definition
from services.onboarding.domain.park_reload import PRICE_FIELDS, ParkReload, plan_reload
from services.onboarding.domain.reasons import Reason, ReasonCode
from services.onboarding.domain.submissions import EnterpriseDetails, Submission
from services.onboarding.domain.units import Unit, UnitStatus
from shared.clock import as_utc
from shared.contract.fields import utc_iso


class AbstractParkRepository(ABC):
    """Park definitions as loaded from park files."""

    @abstractmethod
    def get(self, park_id: str) -> ParkDefinition | None: ...


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


class AbstractApplicationRepository(ABC):
    """Applications, whole aggregates; ``due`` finds those the deadline timer must visit."""

    @abstractmethod
    def get(
        self, application_id: str, *, lock: bool = False, skip_locked: bool = False
    ) -> Application | None: ...

    @abstractmethod
    def add(self, application: Application, correlation_id: str | None) -> None: ...

    @abstractmethod
    def save(self, application: Application) -> None: ...

    @abstractmethod
    def correlation_id(self, application_id: str) -> str | None: ...

    @abstractmethod
    def search(
        self,
        *,
        status: str | None = None,
        park_id: str | None = None,
        overdue_at: datetime | None = None,
        limit: int = 200,
    ) -> list[Application]:
        """Applications by status and park, oldest first; with ``overdue_at``, only
        those under review past a deadline then."""

    @abstractmethod
    def pending(self, park_id: str, uscc: str) -> list[str]:
        """The applications of ``uscc`` to the park still under review. Serialises the
        transactions asking about one ``(park_id, uscc)`` until they end, so two racing
        applications of one enterprise cannot both find none."""

    @abstractmethod
    def due(self, now: datetime, limit: int = 100, exclude: Collection[str] = ()) -> list[str]:
        """Up to ``limit`` applications whose next deadline has passed, earliest first,
        leaving out ``exclude``."""


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


class AbstractHistoryRepository(ABC):
    """Every domain event of an application and its enterprise, for operators."""

    @abstractmethod
    def append(
        self,
        *,
        application_id: str | None,
        enterprise_id: str | None,
        event_type: str,
        event_id: str,
        occurred_at: datetime,
        payload: dict,
    ) -> None: ...

    @abstractmethod
    def of_application(self, application_id: str, enterprise_id: str | None) -> list[dict]: ...

    @abstractmethod
    def released_by_claim(self, enterprise_id: str, claim_id: str) -> set[str]:
        """The units a buyback claim already released from this enterprise."""


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def _iso(moment: datetime | None) -> str | None:
    return utc_iso(moment) if moment else None


@lru_cache(maxsize=64)
def _parse_park(definition: str, source: str) -> ParkDefinition:
    return parse_park_definition(definition, source)


class ParkRepository(AbstractParkRepository):
    def __init__(self, session: Session):
        self.session = session

    def get(self, park_id: str) -> ParkDefinition | None:
        row = self.session.execute(
            select(orm.parks.c.definition, orm.parks.c.source).where(orm.parks.c.park_id == park_id)
        ).first()
        return _parse_park(row.definition, row.source) if row else None

    def save(self, park: ParkDefinition, definition: str, now: datetime) -> bool:
        """Store the park's definition; returns True if it was new."""
        values = {
            "name": park.name,
            "definition": definition,
            "source": park.source,
            "loaded_at": now,
        }
        found = self.session.execute(
            update(orm.parks).where(orm.parks.c.park_id == park.id).values(**values)
        ).rowcount
        if not found:
            self.session.execute(insert(orm.parks).values(park_id=park.id, **values))
        return not found

    def ids(self) -> list[str]:
        return list(self.session.scalars(select(orm.parks.c.park_id).order_by("park_id")))


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


class ApplicationRepository(AbstractApplicationRepository):
    def __init__(self, session: Session):
        self.session = session

    def get(
        self, application_id: str, *, lock: bool = False, skip_locked: bool = False
    ) -> Application | None:
        query = select(orm.applications.c.document).where(
            orm.applications.c.application_id == application_id
        )
        if lock:
            query = query.with_for_update(skip_locked=skip_locked)
        document = self.session.scalar(query)
        return _application(document) if document is not None else None

    def add(self, application: Application, correlation_id: str | None) -> None:
        row = _application_row(application) | {"correlation_id": correlation_id}
        self.session.execute(insert(orm.applications).values(**row))

    def search(
        self,
        *,
        status: str | None = None,
        park_id: str | None = None,
        overdue_at: datetime | None = None,
        limit: int = 200,
    ) -> list[Application]:
        table = orm.applications
        query = select(table.c.document)
        if status:
            query = query.where(table.c.status == status)
        if park_id:
            query = query.where(table.c.park_id == park_id)
        if overdue_at is not None:
            query = query.where(
                table.c.status == str(ApplicationStatus.UNDER_REVIEW),
                (table.c.review_due_at <= overdue_at) | (table.c.next_deadline_at <= overdue_at),
            )
        query = query.order_by(table.c.received_at, table.c.application_id).limit(limit)
        return [_application(document) for document in self.session.scalars(query)]

    def pending(self, park_id: str, uscc: str) -> list[str]:
        connection = self.session.connection()
        if connection.dialect.name == "postgresql":
            # No row to lock yet: a transaction-scoped advisory lock on the pair, released
            # at commit or rollback. (SQLite serialises writers anyway.)
            digest = hashlib.blake2b(f"{park_id}\0{uscc}".encode(), digest_size=8).digest()
            key = int.from_bytes(digest, "big", signed=True)
            connection.execute(select(func.pg_advisory_xact_lock(key)))
        return list(
            self.session.scalars(
                select(orm.applications.c.application_id)
                .where(
                    orm.applications.c.uscc == uscc,
                    orm.applications.c.park_id == park_id,
                    orm.applications.c.status == str(ApplicationStatus.UNDER_REVIEW),
                )
                .order_by(orm.applications.c.application_id)
            )
        )

    def correlation_id(self, application_id: str) -> str | None:
        return self.session.scalar(
            select(orm.applications.c.correlation_id).where(
                orm.applications.c.application_id == application_id
            )
        )

    def save(self, application: Application) -> None:
        self.session.execute(
            update(orm.applications)
            .where(orm.applications.c.application_id == application.application_id)
            .values(**_application_row(application))
        )

    def due(self, now: datetime, limit: int = 100, exclude: Collection[str] = ()) -> list[str]:
        """Applications whose next deadline has passed (suspension or escalation due)."""
        query = select(orm.applications.c.application_id).where(
            orm.applications.c.next_deadline_at <= now
        )
        if exclude:
            query = query.where(orm.applications.c.application_id.not_in(sorted(exclude)))
        return list(
            self.session.scalars(
                query.order_by(
                    orm.applications.c.next_deadline_at, orm.applications.c.application_id
                ).limit(limit)
            )
        )


def _application_row(application: Application) -> dict:
    return {
        "application_id": application.application_id,
        "park_id": application.park_id,
        "status": str(application.status),
        "uscc": application.submission.enterprise.uscc,
        "enterprise_id": application.enterprise_id,
        "received_at": application.received_at,
        "closed_at": application.closed_at,
        "next_deadline_at": application.next_deadline,
        "review_due_at": application.review_due_at,
        "document": _application_document(application),
    }


def _application_document(application: Application) -> dict:
    submission = application.submission
    return {
        "submission": {
            "application_id": submission.application_id,
            "park_id": submission.park_id,
            "enterprise": asdict(submission.enterprise),
            "tenure": str(submission.tenure),
            "requested_units": list(submission.requested_units),
            "documents": list(submission.documents),
            "supply_chain_partner": submission.supply_chain_partner,
            "lease_term_months": submission.lease_term_months,
        },
        "received_at": _iso(application.received_at),
        "status": str(application.status),
        "unit_ids": list(application.unit_ids),
        "review_departments": list(application.review_departments),
        "decisions": {
            department: {
                "decision": str(d.decision),
                "reason": d.reason,
                "decided_at": _iso(d.decided_at),
            }
            for department, d in application.decisions.items()
        },
        "deficiencies": [
            {
                "document": i.document,
                "due_at": _iso(i.due_at),
                "supplied_at": _iso(i.supplied_at),
                "escalated_at": _iso(i.escalated_at),
            }
            for i in application.deficiencies
        ],
        "documents_on_file": list(application.documents_on_file),
        "rejection_reasons": [
            {"code": str(r.code), "message": r.message, "field": r.field}
            for r in application.rejection_reasons
        ],
        "enterprise_id": application.enterprise_id,
        "closed_at": _iso(application.closed_at),
        "review_due_at": _iso(application.review_due_at),
        "review_overdue_at": _iso(application.review_overdue_at),
    }


def _application(document: dict) -> Application:
    raw = document["submission"]
    submission = Submission(
        application_id=raw["application_id"],
        park_id=raw["park_id"],
        enterprise=EnterpriseDetails(**raw["enterprise"]),
        tenure=raw["tenure"],
        requested_units=raw["requested_units"],
        documents=raw["documents"],
        supply_chain_partner=raw["supply_chain_partner"],
        lease_term_months=raw.get("lease_term_months"),  # absent before revision 0004
    )
    return Application(
        submission=submission,
        received_at=_time(document["received_at"]),
        status=ApplicationStatus(document["status"]),
        unit_ids=tuple(document["unit_ids"]),
        review_departments=tuple(document["review_departments"]),
        decisions={
            department: ReviewDecision(
                department, Decision(d["decision"]), d["reason"], _time(d["decided_at"])
            )
            for department, d in document["decisions"].items()
        },
        deficiencies=[
            DeficiencyItem(
                i["document"], _time(i["due_at"]), _time(i["supplied_at"]), _time(i["escalated_at"])
            )
            for i in document["deficiencies"]
        ],
        documents_on_file=list(document["documents_on_file"]),
        rejection_reasons=tuple(
            Reason(ReasonCode(r["code"]), r["message"], r["field"])
            for r in document["rejection_reasons"]
        ),
        enterprise_id=document["enterprise_id"],
        closed_at=_time(document["closed_at"]),
        # Absent from applications stored before revision 0004: no review time limit.
        review_due_at=_time(document.get("review_due_at")),
        review_overdue_at=_time(document.get("review_overdue_at")),
    )


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


class HistoryRepository(AbstractHistoryRepository):
    def __init__(self, session: Session):
        self.session = session

    def append(
        self,
        *,
        application_id: str | None,
        enterprise_id: str | None,
        event_type: str,
        event_id: str,
        occurred_at: datetime,
        payload: dict,
    ) -> None:
        self.session.execute(
            insert(orm.history).values(
                application_id=application_id,
                enterprise_id=enterprise_id,
                event_type=event_type,
                event_id=event_id,
                occurred_at=occurred_at,
                payload=payload,
            )
        )

    def released_by_claim(self, enterprise_id: str, claim_id: str) -> set[str]:
        payloads = self.session.scalars(
            select(orm.history.c.payload).where(
                orm.history.c.enterprise_id == enterprise_id,
                orm.history.c.event_type == "units_released",
            )
        )
        return {
            unit_id
            for payload in payloads
            if payload.get("claim_id") == claim_id
            for unit_id in payload["units"]
        }

    def of_application(self, application_id: str, enterprise_id: str | None) -> list[dict]:
        condition = orm.history.c.application_id == application_id
        if enterprise_id:
            condition = condition | (orm.history.c.enterprise_id == enterprise_id)
        rows = self.session.execute(
            select(orm.history).where(condition).order_by(orm.history.c.id)
        ).mappings()
        return [
            {
                "event_type": r["event_type"],
                "event_id": r["event_id"],
                "occurred_at": utc_iso(as_utc(r["occurred_at"])),
                "payload": r["payload"],
            }
            for r in rows
        ]
