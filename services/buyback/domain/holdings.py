"""The local projection of what an enterprise holds in the park, built from
``onboarding.events`` (``enterprise_admitted``, ``units_allocated``,
``production_started``, ``units_released``), which arrive in any order.

Only **purchased** units with a recorded ``price_fen`` can be bought back; leased units
are recorded (an operator sees them) but never eligible. The price is the one recorded
when the unit was sold — never today's list price.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from services.buyback.domain.errors import Conflict

PURCHASE = "purchase"


@dataclass(frozen=True)
class HeldUnit:
    """A unit allocated to the enterprise under one contract, at its recorded terms."""

    unit_id: str
    tenure: str  # purchase | lease
    price_fen: int | None  # the recorded purchase price; None for a lease
    contract_id: str

    @property
    def purchased(self) -> bool:
        return self.tenure == PURCHASE and self.price_fen is not None

    @property
    def building(self) -> str:
        """``B07-2F-03`` → ``B07``; a custom unit (``S01``) is its own building."""
        return self.unit_id.split("-", 1)[0]

    def to_dict(self) -> dict:
        return {
            "unit_id": self.unit_id,
            "tenure": self.tenure,
            "price_fen": self.price_fen,
            "contract_id": self.contract_id,
        }

    @classmethod
    def from_dict(cls, data: dict) -> HeldUnit:
        return cls(data["unit_id"], data["tenure"], data["price_fen"], data["contract_id"])


@dataclass
class Holding:
    """One enterprise as this service knows it. ``admitted`` is False while only later
    events (units, production) have arrived before its ``enterprise_admitted``."""

    enterprise_id: str
    park_id: str | None = None
    admitted: bool = False
    production_started_on: date | None = None
    units: dict[str, HeldUnit] = field(default_factory=dict)

    def admit(self, park_id: str | None) -> bool:
        changed = not self.admitted or (park_id is not None and self.park_id != park_id)
        self.admitted = True
        if park_id is not None:
            self.park_id = park_id
        return changed

    def allocate(self, units: list[HeldUnit], park_id: str | None) -> bool:
        """Record units (idempotent). The same unit under another contract replaces the
        old record: it was released and allocated again."""
        changed = False
        if self.park_id is None and park_id is not None:
            self.park_id, changed = park_id, True
        for unit in units:
            if self.units.get(unit.unit_id) != unit:
                self.units[unit.unit_id] = unit
                changed = True
        return changed

    def start_production(self, started_on: date) -> bool:
        if self.production_started_on == started_on:
            return False
        if self.production_started_on is not None:
            raise Conflict(
                "production_start_conflict",
                f"enterprise {self.enterprise_id} started production on "
                f"{self.production_started_on}, not {started_on}",
            )
        self.production_started_on = started_on
        return True

    def release(self, unit_ids: list[str], contract_id: str | None = None) -> list[str]:
        """Drop the units it holds among ``unit_ids`` — with a ``contract_id``, only those
        held under that contract; returns those dropped."""
        dropped = [
            unit_id
            for unit_id in dict.fromkeys(unit_ids)
            if unit_id in self.units
            and (contract_id is None or self.units[unit_id].contract_id == contract_id)
        ]
        for unit_id in dropped:
            del self.units[unit_id]
        return dropped

    def held_under_other_contract(self, unit_ids: list[str], contract_id: str) -> list[str]:
        """Units among ``unit_ids`` it holds under a contract other than ``contract_id``."""
        return [
            unit_id
            for unit_id in dict.fromkeys(unit_ids)
            if unit_id in self.units and self.units[unit_id].contract_id != contract_id
        ]

    def purchased_units(self) -> list[HeldUnit]:
        """Units it bought, with their recorded prices, in unit id order."""
        return sorted((u for u in self.units.values() if u.purchased), key=lambda u: u.unit_id)

    def to_state(self) -> dict:
        return {
            "park_id": self.park_id,
            "admitted": self.admitted,
            "production_started_on": (
                self.production_started_on.isoformat() if self.production_started_on else None
            ),
            "units": [self.units[key].to_dict() for key in sorted(self.units)],
        }

    @classmethod
    def from_state(cls, enterprise_id: str, state: dict) -> Holding:
        started = state.get("production_started_on")
        return cls(
            enterprise_id=enterprise_id,
            park_id=state.get("park_id"),
            admitted=bool(state.get("admitted")),
            production_started_on=date.fromisoformat(started) if started else None,
            units={u["unit_id"]: HeldUnit.from_dict(u) for u in state.get("units", [])},
        )
