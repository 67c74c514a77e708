"""An in-memory unit of work for the use cases in ``handlers/``.

Each fake subclasses the abstract interface the real one implements, so a handler test
breaks when the interface changes. Objects are copied in and out, as a database would:
a change not saved is not seen by the next transaction, and leaving ``with uow:``
without ``commit()`` restores what was there before. Emitted events are checked against
the contract (``shared.contract.build``), exactly as the real outbox checks them.
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Iterable
from datetime import datetime

from services.onboarding.domain.applications import Application, ApplicationStatus
from services.onboarding.domain.enterprises import Enterprise
from services.onboarding.domain.park import ParkDefinition
from services.onboarding.domain.units import Unit, UnitStatus
from services.onboarding.repository import (
    AbstractApplicationRepository,
    AbstractEnterpriseRepository,
    AbstractHistoryRepository,
    AbstractParkRepository,
    AbstractUnitRepository,
)
from services.onboarding.tests.unit.builders import NOW, CountingIds
from services.onboarding.unit_of_work import AbstractOnboardingUnitOfWork
from shared.contract import build
from shared.messaging.unit_of_work import Cause


class FakeStore:
    """What the fake "database" holds; copied on entering a transaction."""

    def __init__(self) -> None:
        self.parks: dict[str, ParkDefinition] = {}
        self.units: dict[tuple[str, str], Unit] = {}
        self.applications: dict[str, Application] = {}
        self.correlation_ids: dict[str, str | None] = {}
        self.enterprises: dict[str, Enterprise] = {}
        self.history: list[dict] = []
        self.outbox: list[dict] = []
        self.broken: set[str] = set()  # application ids whose locked read fails


def _copy(value):
    duplicate = copy.deepcopy(value)
    if hasattr(duplicate, "events"):
        duplicate.events = []
    return duplicate


class FakeParkRepository(AbstractParkRepository):
    def __init__(self, store: FakeStore):
        self.store = store

    def get(self, park_id: str) -> ParkDefinition | None:
        return self.store.parks.get(park_id)


class FakeUnitRepository(AbstractUnitRepository):
    def __init__(self, store: FakeStore):
        self.store = store

    def get_many(self, park_id, unit_ids, *, lock=False):
        found = {}
        for unit_id in sorted(set(unit_ids)):
            unit = self.store.units.get((park_id, unit_id))
            if unit is not None:
                found[unit_id] = _copy(unit)
        return found

    def save(self, units: Iterable[Unit]) -> None:
        for unit in units:
            self.store.units[(unit.park_id, unit.unit_id)] = _copy(unit)

    def held_by(self, enterprise_id, unit_ids=None, *, lock=False):
        wanted = None if unit_ids is None else set(unit_ids)
        return [
            _copy(unit)
            for (_, unit_id), unit in sorted(self.store.units.items())
            if unit.holder == enterprise_id and (wanted is None or unit_id in wanted)
        ]

    def tenants_with_leases_over(self, today, limit=100):
        return sorted({u.holder for u in self.store.units.values() if u.lease_over(today)})[:limit]

    def search(self, park_id, *, status=None, building=None):
        return [
            _copy(unit)
            for (park, _), unit in sorted(self.store.units.items())
            if park == park_id
            and (status is None or unit.status == status)
            and (building is None or unit.building == building)
        ]

    def occupancy(self, park_id, building=None):
        figures = {str(status): {"units": 0, "area_m2": 0} for status in UnitStatus}
        for unit in self.search(park_id, building=building):
            figures[str(unit.status)]["units"] += 1
            figures[str(unit.status)]["area_m2"] += unit.area_m2
        return figures


class FakeApplicationRepository(AbstractApplicationRepository):
    def __init__(self, store: FakeStore):
        self.store = store

    def get(self, application_id, *, lock=False, skip_locked=False):
        if lock and application_id in self.store.broken:
            raise RuntimeError(f"the row of {application_id} cannot be read")
        application = self.store.applications.get(application_id)
        return _copy(application) if application is not None else None

    def add(self, application: Application, correlation_id: str | None) -> None:
        assert application.application_id not in self.store.applications
        self.store.applications[application.application_id] = _copy(application)
        self.store.correlation_ids[application.application_id] = correlation_id

    def save(self, application: Application) -> None:
        assert application.application_id in self.store.applications
        self.store.applications[application.application_id] = _copy(application)

    def search(self, *, status=None, park_id=None, overdue_at=None, limit=200):
        found = [
            _copy(application)
            for application in self.store.applications.values()
            if (status is None or application.status == status)
            and (park_id is None or application.park_id == park_id)
            and (overdue_at is None or application.is_overdue(overdue_at))
        ]
        found.sort(key=lambda a: (a.received_at, a.application_id))
        return found[:limit]

    def pending(self, park_id: str, uscc: str) -> list[str]:
        return sorted(
            application_id
            for application_id, application in self.store.applications.items()
            if application.park_id == park_id
            and application.submission.enterprise.uscc == uscc
            and application.status == ApplicationStatus.UNDER_REVIEW
        )

    def correlation_id(self, application_id: str) -> str | None:
        return self.store.correlation_ids.get(application_id)

    def due(self, now: datetime, limit: int = 100, exclude: Collection[str] = ()) -> list[str]:
        due = [
            (deadline, application_id)
            for application_id, application in self.store.applications.items()
            if (deadline := application.next_deadline) is not None
            and deadline <= now
            and application_id not in exclude
        ]
        return [application_id for _, application_id in sorted(due)[:limit]]

    def statuses(self) -> dict[str, ApplicationStatus]:
        return {i: a.status for i, a in self.store.applications.items()}


class FakeEnterpriseRepository(AbstractEnterpriseRepository):
    def __init__(self, store: FakeStore):
        self.store = store

    def get(self, enterprise_id, *, lock=False):
        enterprise = self.store.enterprises.get(enterprise_id)
        return _copy(enterprise) if enterprise is not None else None

    def by_uscc(self, park_id, uscc, *, lock=False):
        for enterprise in self.store.enterprises.values():
            if enterprise.park_id == park_id and enterprise.uscc == uscc:
                return _copy(enterprise)
        return None

    def add(self, enterprise: Enterprise) -> None:
        assert enterprise.enterprise_id not in self.store.enterprises
        self.store.enterprises[enterprise.enterprise_id] = _copy(enterprise)

    def save(self, enterprise: Enterprise) -> None:
        assert enterprise.enterprise_id in self.store.enterprises
        self.store.enterprises[enterprise.enterprise_id] = _copy(enterprise)

    def per_officer(self, park_id):
        counts: dict[str, tuple[int, int]] = {}
        for enterprise in self.store.enterprises.values():
            if enterprise.park_id == park_id:
                active, total = counts.get(enterprise.chief_service_officer, (0, 0))
                counts[enterprise.chief_service_officer] = (
                    active + enterprise.active,
                    total + 1,
                )
        return counts

    def active_per_officer(self, park_id: str) -> dict[str, int]:
        counts: dict[str, int] = {}
        for enterprise in self.store.enterprises.values():
            if enterprise.park_id == park_id and enterprise.active:
                officer = enterprise.chief_service_officer
                counts[officer] = counts.get(officer, 0) + 1
        return counts


class FakeHistoryRepository(AbstractHistoryRepository):
    def __init__(self, store: FakeStore):
        self.store = store

    def append(self, **row) -> None:
        self.store.history.append(row)

    def released_by_claim(self, enterprise_id, claim_id):
        return {
            unit_id
            for row in self.store.history
            if row["enterprise_id"] == enterprise_id
            and row["event_type"] == "units_released"
            and row["payload"].get("claim_id") == claim_id
            for unit_id in row["payload"]["units"]
        }

    def of_application(self, application_id, enterprise_id):
        return [
            row
            for row in self.store.history
            if row["application_id"] == application_id
            or (enterprise_id and row["enterprise_id"] == enterprise_id)
        ]


class FakeUnitOfWork(AbstractOnboardingUnitOfWork):
    """Handlers' unit of work over a :class:`FakeStore`; ``published`` holds the
    envelopes of committed transactions, in order."""

    def __init__(self, store: FakeStore | None = None, now: datetime = NOW):
        self.store = store or FakeStore()
        self.now = now
        self.clock = lambda: self.now
        self.new_id = CountingIds()
        self.cause = Cause()
        self.commits = 0
        self._saved: FakeStore | None = None
        self._staged: list[dict] = []

    def __enter__(self) -> FakeUnitOfWork:
        self._saved = copy.deepcopy(self.store)
        self._staged = []
        self._committed = False
        self.cause = Cause()
        self.parks = FakeParkRepository(self.store)
        self.units = FakeUnitRepository(self.store)
        self.applications = FakeApplicationRepository(self.store)
        self.enterprises = FakeEnterpriseRepository(self.store)
        self.history = FakeHistoryRepository(self.store)
        return self

    def __exit__(self, *exc_info) -> None:
        if not self._committed:
            self.store.__dict__.update(self._saved.__dict__)
        self._saved = None

    def commit(self) -> None:
        self.store.outbox += self._staged
        self._staged = []
        self._committed = True
        self.commits += 1

    def emit(self, type_, payload, *, park_id=None, version=1):
        if self.cause.correlation_id is None:
            self.cause = Cause(self.new_id(), self.cause.causation_id, self.cause.park_id)
        envelope = build(
            "onboarding",
            type_,
            payload,
            occurred_at=self.clock(),
            correlation_id=self.cause.correlation_id,
            causation_id=self.cause.causation_id,
            park_id=park_id,
            version=version,
            new_id=self.new_id,
        )
        self._staged.append(envelope)
        return envelope

    # -- for tests ----------------------------------------------------------------------

    @property
    def published(self) -> list[dict]:
        return self.store.outbox

    def types(self) -> list[str]:
        return [envelope["type"] for envelope in self.published]

    def of_type(self, type_: str) -> list[dict]:
        return [envelope["payload"] for envelope in self.published if envelope["type"] == type_]

    def add_park(self, park: ParkDefinition) -> None:
        self.store.parks[park.id] = park
        for spec in park.units:
            self.store.units[(park.id, spec.unit_id)] = Unit.from_spec(spec)
