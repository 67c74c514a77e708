"""A park as configured: buildings, units, prices and its admission policy (一园一策).

Plain frozen values, standard library only, so the domain can use them; loading them from
the YAML park files lives in :mod:`services.onboarding.domain.park_definition`.

Unit ids: ``B07-2F-03`` is building B07, floor 2, room 3; a floor is ``B07-2F`` and stands
for all of its rooms (a floor may be bought or leased whole); a custom single-storey
factory is its own id, ``S01``. Ids are unique within a park, not across parks: every
park has a ``B01-1F-01``, so a unit is always identified by ``(park_id, unit_id)``.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property

from services.onboarding.domain.industries import (
    IndustryCode,
    IndustryDecision,
    IndustryPrefixes,
    IndustryRules,
)


@dataclass(frozen=True)
class Prices:
    """A park's prices per m², in integer fen (1 CNY = 100 fen) so money never rounds."""

    purchase_per_m2_fen: int
    monthly_rent_per_m2_fen: int
    monthly_property_fee_per_m2_fen: int


@dataclass(frozen=True)
class Department:
    """A joint-review department (联审部门), e.g. ``market_regulation`` / 市场监管局."""

    id: str
    name: str


@dataclass(frozen=True)
class ChiefServiceOfficer:
    """A chief service officer (首席服务官) on a park's roster."""

    id: str
    name: str


def normalise_document_name(name: str) -> str:
    """The form in which document names are compared.

    NFKC folds full-width forms (``（正反面）`` vs ``(正反面)``, full-width spaces) that
    portal users type interchangeably, so the same document is not reported missing.
    """
    return unicodedata.normalize("NFKC", name).strip()


@dataclass(frozen=True)
class AdmissionPolicy:
    """One park's admission and service policy (一园一策).

    ``environmental_review`` lists the industry prefixes whose enterprises need an
    environmental impact review (环评) after admission; a code too coarse to rule one out
    counts as needing it (see :meth:`IndustryPrefixes.may_cover`).
    ``review_time_limit_business_days`` is the time limit of the review (审批时限) in
    business days; ``lease_terms_months`` the lease terms the park offers, in months,
    strictly increasing.
    """

    industries: IndustryRules
    required_documents: tuple[str, ...]
    departments: tuple[Department, ...]
    deficiency_deadline_business_days: int
    environmental_review: IndustryPrefixes
    chief_service_officers: tuple[ChiefServiceOfficer, ...]
    review_time_limit_business_days: int = 20
    lease_terms_months: tuple[int, ...] = (12, 24, 36, 60)

    @property
    def department_ids(self) -> tuple[str, ...]:
        """The ids of the departments every application is sent to for joint review."""
        return tuple(department.id for department in self.departments)

    def decide_industry(self, code: IndustryCode) -> IndustryDecision:
        """Whether the park admits enterprises of industry ``code``."""
        return self.industries.decide(code)

    def requires_environmental_review(self, code: IndustryCode) -> bool:
        """Whether an enterprise of industry ``code`` needs an environmental review."""
        return self.environmental_review.may_cover(code)

    def missing_documents(self, supplied: Iterable[str]) -> tuple[str, ...]:
        """The required documents not among ``supplied``, in the policy's order."""
        have = {normalise_document_name(name) for name in supplied}
        return tuple(
            name for name in self.required_documents if normalise_document_name(name) not in have
        )


@dataclass(frozen=True)
class Building:
    """A standard factory building: ``rooms_by_floor[0]`` lists the room areas of 1F."""

    id: str
    rooms_by_floor: tuple[tuple[int, ...], ...]

    @classmethod
    def uniform(cls, id: str, floors: int, rooms_per_floor: int, room_area_m2: int) -> Building:
        """A building whose floors all have the same number of equal rooms."""
        return cls(id, tuple((room_area_m2,) * rooms_per_floor for _ in range(floors)))


@dataclass(frozen=True)
class CustomUnit:
    """A custom single-storey factory (小单层厂房), sold or leased as one unit."""

    id: str
    area_m2: int


@dataclass(frozen=True)
class UnitSpec:
    """One sellable or leasable unit of a park, as the park file defines it.

    ``floor`` and ``room`` are ``None`` for a custom single-storey unit, whose
    ``building`` is its own id. Prices are copied per unit so an allocation needs nothing
    but the unit to price it.
    """

    unit_id: str
    park_id: str
    building: str
    floor: int | None
    room: int | None
    area_m2: int
    purchase_price_per_m2_fen: int
    monthly_rent_per_m2_fen: int
    property_fee_per_m2_fen: int


@dataclass(frozen=True)
class Floor:
    """A whole floor of a building, requestable as one id standing for all its rooms."""

    floor_id: str
    building: str
    floor: int
    unit_ids: tuple[str, ...]


def room_unit_id(building: str, floor: int, room: int) -> str:
    """``B07``, 2, 3 → ``B07-2F-03``."""
    return f"{building}-{floor}F-{room:02d}"


def floor_id(building: str, floor: int) -> str:
    """``B07``, 2 → ``B07-2F``."""
    return f"{building}-{floor}F"


@dataclass(frozen=True)
class ParkDefinition:
    """A park as its park file defines it; ``source`` names the file, for messages."""

    id: str
    name: str
    district: str
    buildings: tuple[Building, ...]
    custom_units: tuple[CustomUnit, ...]
    prices: Prices
    policy: AdmissionPolicy
    source: str = ""

    @cached_property
    def units(self) -> tuple[UnitSpec, ...]:
        """Every unit of the park: building rooms in order, then custom units."""
        return expand_units(self)

    @cached_property
    def floors(self) -> Mapping[str, Floor]:
        """Every floor of every building, by floor id."""
        return expand_floors(self)

    def resolve_requested_units(self, requested: Iterable[str]) -> tuple[str, ...]:
        """Expand floor ids into their rooms and drop repeats, keeping the order asked.

        Ids that are neither a floor nor a unit are kept as given, so the caller reports
        them as unknown units instead of losing them.
        """
        resolved: dict[str, None] = {}
        for requested_id in requested:
            floor = self.floors.get(requested_id)
            for unit_id in floor.unit_ids if floor else (requested_id,):
                resolved.setdefault(unit_id)
        return tuple(resolved)


def expand_units(park: ParkDefinition) -> tuple[UnitSpec, ...]:
    """List every unit of ``park`` with its area and per-m² prices: building rooms floor
    by floor, then custom units."""
    prices = park.prices

    def spec(unit_id: str, building: str, floor: int | None, room: int | None, area: int):
        return UnitSpec(
            unit_id=unit_id,
            park_id=park.id,
            building=building,
            floor=floor,
            room=room,
            area_m2=area,
            purchase_price_per_m2_fen=prices.purchase_per_m2_fen,
            monthly_rent_per_m2_fen=prices.monthly_rent_per_m2_fen,
            property_fee_per_m2_fen=prices.monthly_property_fee_per_m2_fen,
        )

    units = [
        spec(unit_id, floor.building, floor.floor, room, area)
        for floor, areas in _floors_with_areas(park.buildings)
        for room, (unit_id, area) in enumerate(zip(floor.unit_ids, areas, strict=True), start=1)
    ]
    units += [
        spec(custom.id, custom.id, None, None, custom.area_m2) for custom in park.custom_units
    ]
    return tuple(units)


def expand_floors(park: ParkDefinition) -> dict[str, Floor]:
    """Map each floor id of ``park`` (``B07-2F``) to the floor and its room unit ids."""
    return {floor.floor_id: floor for floor, _ in _floors_with_areas(park.buildings)}


def _floors_with_areas(
    buildings: Iterable[Building],
) -> Iterator[tuple[Floor, tuple[int, ...]]]:
    """Every floor of ``buildings`` with its rooms' areas: the one place that turns
    buildings into floor and room ids, for both the unit list and floor requests."""
    for building in buildings:
        for number, areas in enumerate(building.rooms_by_floor, start=1):
            rooms = tuple(
                room_unit_id(building.id, number, room) for room in range(1, len(areas) + 1)
            )
            yield Floor(floor_id(building.id, number), building.id, number, rooms), areas
