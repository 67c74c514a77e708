"""Admitted enterprises and what operators do with them after admission.

An :class:`Enterprise` exists only once the joint review admitted it, so "only for an
admitted enterprise" holds by construction. Its operations: record the production
start (once), end a lease, reassign the chief service officer, log a service visit.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from services.onboarding.domain.errors import (
    InvalidDate,
    LeaseNotHeld,
    NoServiceOfficers,
    ProductionAlreadyStarted,
    UnitsNotOwned,
    UnknownServiceOfficer,
)
from services.onboarding.domain.events import (
    ChiefServiceOfficerReassigned,
    DomainEvent,
    ProductionStarted,
    ReleaseReason,
    ServiceVisitLogged,
    UnitsReleased,
)
from services.onboarding.domain.park import ChiefServiceOfficer
from services.onboarding.domain.timekeeping import park_date, require_utc
from services.onboarding.domain.units import Unit, UnitStatus, return_on_buyback


def assign_chief_service_officer(
    roster: Iterable[ChiefServiceOfficer], active_enterprises: Mapping[str, int]
) -> ChiefServiceOfficer:
    """The officer on ``roster`` with the fewest active enterprises, ties going to the
    lowest id, so assignment is deterministic and spreads the load.

    ``active_enterprises`` maps officer id → enterprises they serve now; an officer
    missing from it serves none.
    """
    officers = list(roster)
    if not officers:
        raise NoServiceOfficers("the park's roster of chief service officers is empty")
    return min(officers, key=lambda officer: (active_enterprises.get(officer.id, 0), officer.id))


@dataclass(frozen=True)
class ServiceVisit:
    """A visit by a service officer (走访), kept for the park's performance evaluation."""

    visit_id: str
    officer_id: str
    visited_on: date
    note: str


@dataclass(eq=False)
class Enterprise:
    """An enterprise admitted to a park, with its chief service officer (首席服务官)."""

    enterprise_id: str
    park_id: str
    application_id: str
    name: str
    uscc: str
    industry_code: str
    supply_chain_partner: bool
    environmental_review_required: bool
    chief_service_officer: str
    admitted_at: datetime
    production_started_on: date | None = None
    unit_ids: tuple[str, ...] = ()  # the units it holds (bought or leased) now
    visits: list[ServiceVisit] = field(default_factory=list)
    events: list[DomainEvent] = field(default_factory=list, repr=False)

    @property
    def active(self) -> bool:
        """True while the enterprise holds a unit; one whose leases ended or whose units
        were all bought back is finished, and no longer counts on its officer's load."""
        return bool(self.unit_ids)

    def record_production_start(self, started_on: date, now: datetime) -> None:
        """Record the day production started; the same day again is a no-op.

        The date may not lie in the future nor before admission (park local dates): the
        ten-year buyback window is counted from it, so a wrong date costs real money.
        """
        require_utc(now)
        if self.production_started_on == started_on:
            return
        if self.production_started_on is not None:
            raise ProductionAlreadyStarted(
                f"enterprise {self.enterprise_id} started production on "
                f"{self.production_started_on}, not {started_on}"
            )
        self._check_date(started_on, now, "production start")
        self.production_started_on = started_on
        self.events.append(
            ProductionStarted(
                occurred_at=now,
                park_id=self.park_id,
                enterprise_id=self.enterprise_id,
                application_id=self.application_id,
                started_on=started_on,
            )
        )

    def end_lease(self, units: Sequence[Unit], now: datetime) -> tuple[str, ...]:
        """End the lease of ``units`` (all leased by this enterprise): they become available.

        All or nothing: if any unit is not leased by this enterprise nothing changes.
        Returns the released unit ids.
        """
        require_utc(now)
        if not units:
            raise LeaseNotHeld("no units given to end the lease of")
        not_held = [
            unit.unit_id
            for unit in units
            if unit.status != UnitStatus.LEASED or unit.holder != self.enterprise_id
        ]
        if not_held:
            raise LeaseNotHeld(
                f"enterprise {self.enterprise_id} does not lease {', '.join(not_held)}"
            )
        contracts = {unit.unit_id: unit.contract_id for unit in units}
        for unit in units:
            unit.end_lease(self.enterprise_id)
        return self._released(units, ReleaseReason.LEASE_ENDED, now, contracts=contracts)

    def sell_back(
        self,
        units: Sequence[Unit],
        unit_ids: Sequence[str],
        claim_id: str,
        now: datetime,
        *,
        released_by_claim: Collection[str] = (),
    ) -> tuple[str, ...]:
        """Return the units of a settled buyback claim to inventory.

        ``units`` are the stored units among ``unit_ids``; ``released_by_claim`` the ids
        this very claim already released. Units this enterprise owns are released; ids
        already released by this claim are skipped, so a repeated settlement changes
        nothing. Any other unit refuses the whole settlement (:class:`UnitsNotOwned`),
        which says why: unknown, held by someone else or leased, or available now — never
        held by this enterprise, or already returned by another path. Buyback is at the
        original *purchase* price, so the claim and the inventory disagree.
        """
        require_utc(now)
        by_id = {unit.unit_id: unit for unit in units}
        owned = [u for u in units if u.status == UnitStatus.SOLD and u.holder == self.enterprise_id]
        problems = []
        for unit_id in dict.fromkeys(unit_ids):
            unit = by_id.get(unit_id)
            if unit is None:
                problems.append(f"{unit_id} (unknown)")
            elif unit in owned or unit_id in released_by_claim:
                continue
            elif unit.status == UnitStatus.AVAILABLE:
                problems.append(
                    f"{unit_id} (available now: never held by it, or already returned "
                    "by another path)"
                )
            else:
                problems.append(f"{unit_id} ({unit.status}, not sold to it)")
        if problems:
            raise UnitsNotOwned(
                f"claim {claim_id}: enterprise {self.enterprise_id} does not own "
                f"{', '.join(problems)}"
            )
        contracts = {unit.unit_id: unit.contract_id for unit in owned}
        for unit in owned:
            return_on_buyback(unit, self.enterprise_id)
        return self._released(
            owned, ReleaseReason.BUYBACK_SETTLED, now, claim_id=claim_id, contracts=contracts
        )

    def _released(
        self,
        units: Sequence[Unit],
        reason: ReleaseReason,
        now: datetime,
        claim_id: str | None = None,
        contracts: Mapping[str, str | None] | None = None,
    ) -> tuple[str, ...]:
        """Record that ``units`` went back to inventory (nothing if there are none): one
        ``units_released`` per contract they were held under (``contracts``: unit id →
        contract id, read before the units were returned), so that a consumer can tell
        a stale release from the units' newer contract."""
        released = tuple(unit.unit_id for unit in units)
        self.unit_ids = tuple(u for u in self.unit_ids if u not in released)
        by_contract: dict[str | None, list[str]] = {}
        for unit_id in released:
            by_contract.setdefault((contracts or {}).get(unit_id), []).append(unit_id)
        for contract_id, unit_ids in by_contract.items():
            self.events.append(
                UnitsReleased(
                    occurred_at=now,
                    park_id=self.park_id,
                    units=tuple(unit_ids),
                    reason=reason,
                    application_id=self.application_id,
                    enterprise_id=self.enterprise_id,
                    claim_id=claim_id,
                    contract_id=contract_id,
                )
            )
        return released

    def reassign_chief_service_officer(
        self, officer_id: str, roster: Iterable[ChiefServiceOfficer], now: datetime
    ) -> None:
        """Hand the enterprise to another officer on the park's roster; same officer: no-op."""
        require_utc(now)
        if officer_id not in {officer.id for officer in roster}:
            raise UnknownServiceOfficer(f"{officer_id!r} is not on park {self.park_id}'s roster")
        if officer_id == self.chief_service_officer:
            return
        previous, self.chief_service_officer = self.chief_service_officer, officer_id
        self.events.append(
            ChiefServiceOfficerReassigned(
                occurred_at=now,
                park_id=self.park_id,
                enterprise_id=self.enterprise_id,
                previous=previous,
                chief_service_officer=officer_id,
            )
        )

    def log_service_visit(
        self, visit_id: str, officer_id: str, visited_on: date, note: str, now: datetime
    ) -> None:
        """Record a service officer's visit; a repeated ``visit_id`` is a no-op."""
        require_utc(now)
        if any(visit.visit_id == visit_id for visit in self.visits):
            return
        self._check_date(visited_on, now, "visit")
        self.visits.append(ServiceVisit(visit_id, officer_id, visited_on, note))
        self.events.append(
            ServiceVisitLogged(
                occurred_at=now,
                park_id=self.park_id,
                enterprise_id=self.enterprise_id,
                visit_id=visit_id,
                officer_id=officer_id,
                visited_on=visited_on,
                note=note,
            )
        )

    def _check_date(self, day: date, now: datetime, what: str) -> None:
        today, admitted_on = park_date(now), park_date(self.admitted_at)
        if day > today:
            raise InvalidDate(f"{what} date {day} is in the future (today is {today})")
        if day < admitted_on:
            raise InvalidDate(f"{what} date {day} is before admission on {admitted_on}")
