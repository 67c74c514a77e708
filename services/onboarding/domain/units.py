"""Units (rooms and custom factories) and their life cycle: available → reserved → sold
or leased, and back to available when a reservation or a lease ends.

Each unit is its own aggregate: the repository locks the rows an operation touches, and
the functions here decide over all of them at once so that a reservation of several
units is all-or-nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from services.onboarding.domain.errors import IllegalUnitTransition
from services.onboarding.domain.park import UnitSpec


class UnitStatus(StrEnum):
    """Where a unit stands; ``sold`` and ``leased`` units have a holder and a contract."""

    AVAILABLE = "available"
    RESERVED = "reserved"
    SOLD = "sold"
    LEASED = "leased"


class Tenure(StrEnum):
    """How an enterprise holds its units."""

    PURCHASE = "purchase"
    LEASE = "lease"


@dataclass(frozen=True)
class AllocatedUnit:
    """A unit as allocated to an enterprise, with its money terms in integer fen.

    ``price_fen`` is set for a purchase, ``monthly_rent_fen`` for a lease; the property
    fee is owed under either tenure.
    """

    unit_id: str
    area_m2: int
    tenure: Tenure
    price_fen: int | None
    monthly_rent_fen: int | None
    monthly_property_fee_fen: int
    contract_id: str


@dataclass(eq=False)
class Unit:
    """One room or custom factory of a park, identified by ``(park_id, unit_id)``."""

    unit_id: str
    park_id: str
    building: str
    floor: int | None
    room: int | None
    area_m2: int
    purchase_price_per_m2_fen: int
    monthly_rent_per_m2_fen: int
    property_fee_per_m2_fen: int
    status: UnitStatus = UnitStatus.AVAILABLE
    reserved_for: str | None = None  # application id while reserved
    holder: str | None = None  # enterprise id while sold or leased
    contract_id: str | None = None
    lease_ends_on: date | None = None  # a leased unit returns to inventory that day

    @classmethod
    def from_spec(cls, spec: UnitSpec) -> Unit:
        """A new, available unit as the park file defines it."""
        return cls(**{name: getattr(spec, name) for name in UnitSpec.__dataclass_fields__})

    def is_available_to(self, application_id: str) -> bool:
        """True if the unit is free, or already reserved for this very application."""
        return self.status == UnitStatus.AVAILABLE or self.reserved_for == application_id

    def reserve(self, application_id: str) -> None:
        """Hold the unit for an application; repeating it for the same one is a no-op."""
        if self.reserved_for == application_id:
            return
        if self.status != UnitStatus.AVAILABLE:
            raise IllegalUnitTransition(f"unit {self.unit_id} is {self.status}, not available")
        self.status = UnitStatus.RESERVED
        self.reserved_for = application_id

    def release_reservation(self, application_id: str) -> None:
        """Give the unit back after the application holding it failed."""
        if self.status != UnitStatus.RESERVED or self.reserved_for != application_id:
            raise IllegalUnitTransition(
                f"unit {self.unit_id} is not reserved for application {application_id}"
            )
        self.status = UnitStatus.AVAILABLE
        self.reserved_for = None

    def allocate(
        self,
        application_id: str,
        tenure: Tenure,
        enterprise_id: str,
        contract_id: str,
        lease_ends_on: date | None = None,
    ) -> AllocatedUnit:
        """Turn the application's reservation into a sale or a lease (ending on
        ``lease_ends_on``), and price it."""
        tenure = Tenure(tenure)  # a plain "lease" from a caller must not price as a sale
        if self.status != UnitStatus.RESERVED or self.reserved_for != application_id:
            raise IllegalUnitTransition(
                f"unit {self.unit_id} is {self.status}, not reserved for application "
                f"{application_id}, so it cannot be allocated"
            )
        self.status = UnitStatus.SOLD if tenure == Tenure.PURCHASE else UnitStatus.LEASED
        self.reserved_for = None
        self.holder = enterprise_id
        self.contract_id = contract_id
        purchase = tenure == Tenure.PURCHASE
        self.lease_ends_on = None if purchase else lease_ends_on
        return AllocatedUnit(
            unit_id=self.unit_id,
            area_m2=self.area_m2,
            tenure=tenure,
            price_fen=self.area_m2 * self.purchase_price_per_m2_fen if purchase else None,
            monthly_rent_fen=None if purchase else self.area_m2 * self.monthly_rent_per_m2_fen,
            monthly_property_fee_fen=self.area_m2 * self.property_fee_per_m2_fen,
            contract_id=contract_id,
        )

    def end_lease(self, enterprise_id: str) -> None:
        """Return a leased unit to inventory when its tenant's lease ends."""
        if self.status != UnitStatus.LEASED or self.holder != enterprise_id:
            raise IllegalUnitTransition(
                f"unit {self.unit_id} is {self.status}, not leased by enterprise {enterprise_id}"
            )
        self.status = UnitStatus.AVAILABLE
        self.holder = None
        self.contract_id = None
        self.lease_ends_on = None

    def lease_over(self, today: date) -> bool:
        """True for a leased unit whose term has ended by ``today`` (a park date)."""
        return (
            self.status == UnitStatus.LEASED
            and self.lease_ends_on is not None
            and self.lease_ends_on <= today
        )


def return_on_buyback(unit: Unit, enterprise_id: str) -> None:
    """The park owner bought a sold unit back (十年回购): it is available again."""
    if unit.status != UnitStatus.SOLD or unit.holder != enterprise_id:
        raise IllegalUnitTransition(
            f"unit {unit.unit_id} is {unit.status}, not sold to enterprise {enterprise_id}"
        )
    unit.status = UnitStatus.AVAILABLE
    unit.holder = None
    unit.contract_id = None


def reserve_units(units: Sequence[Unit], application_id: str) -> tuple[str, ...]:
    """Reserve every unit for ``application_id``, or none of them.

    Returns the ids of the units that are not available (empty when all were reserved).
    The caller holds row locks on ``units``, so checking all before changing any is
    enough to make the reservation atomic.
    """
    unavailable = tuple(unit.unit_id for unit in units if not unit.is_available_to(application_id))
    if not unavailable:
        for unit in units:
            unit.reserve(application_id)
    return unavailable


def release_reservations(units: Sequence[Unit], application_id: str) -> tuple[str, ...]:
    """Release the units reserved for ``application_id``; returns their ids."""
    held = [unit for unit in units if unit.reserved_for == application_id]
    for unit in held:
        unit.release_reservation(application_id)
    return tuple(unit.unit_id for unit in held)
