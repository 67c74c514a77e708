"""The local projection of what an enterprise holds in the park, built from
``onboarding.events`` (``enterprise_admitted``, ``units_allocated``,
``production_started``, ``units_released``), which arrive in any order.

Only **purchased** units with a recorded ``price_fen`` can be bought back; leased units
are recorded (an operator sees them) but never eligible. The price is the one recorded
when the unit was sold — never today's list price.

Which contract a unit is held under does not depend on the order the events arrive in,
nor on how often (retries and replays reorder events of one type too). Onboarding holds
a unit under one contract at a time, so a contract allocated after another one of the
same unit means the older one ended first. The unit is held under its **newest known
allocation** — by the ``occurred_at`` of its ``units_allocated``, ties broken by the
contract id — unless that contract was released. Every other contract of the unit the
projection heard of has **ended** and is remembered (``ended``): a late or replayed
``units_allocated`` of it changes nothing, and a release that comes before its
allocation is taken at once instead of waiting for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime

from services.buyback.domain.errors import Conflict

PURCHASE = "purchase"

#: The time of an allocation stored before times were recorded: older than any other.
_UNTIMED = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class HeldUnit:
    """A unit allocated to the enterprise under one contract, at its recorded terms."""

    unit_id: str
    tenure: str  # purchase | lease
    price_fen: int | None  # the recorded purchase price; None for a lease
    contract_id: str
    # The envelope's occurred_at of its units_allocated (None: stored before it was kept).
    allocated_at: datetime | None = None

    @property
    def order(self) -> tuple[datetime, str]:
        """Its place among the contracts of the unit: allocation time, then contract id."""
        return (self.allocated_at or _UNTIMED, self.contract_id)

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
            "allocated_at": _iso(self.allocated_at),
        }

    @classmethod
    def from_dict(cls, data: dict) -> HeldUnit:
        return cls(
            data["unit_id"],
            data["tenure"],
            data["price_fen"],
            data["contract_id"],
            _datetime(data.get("allocated_at")),
        )


@dataclass
class Holding:
    """One enterprise as this service knows it. ``admitted`` is False while only later
    events (units, production) have arrived before its ``enterprise_admitted``.

    ``units``: the units it holds now, each under its newest known contract. ``ended``:
    unit id → the contracts of that unit that ended (released, or followed by a newer
    one), each with its allocation time when known (None: only its release seen)."""

    enterprise_id: str
    park_id: str | None = None
    admitted: bool = False
    production_started_on: date | None = None
    units: dict[str, HeldUnit] = field(default_factory=dict)
    ended: dict[str, dict[str, datetime | None]] = field(default_factory=dict)

    def admit(self, park_id: str | None) -> bool:
        changed = not self.admitted or (park_id is not None and self.park_id != park_id)
        self.admitted = True
        if park_id is not None:
            self.park_id = park_id
        return changed

    def allocate(
        self, units: list[HeldUnit], park_id: str | None, allocated_at: datetime | None = None
    ) -> bool:
        """Record units allocated at ``allocated_at`` (the event's ``occurred_at``; None:
        the units' own). Idempotent, and the same in any order: a unit is held under its
        newest known contract unless that one was released (module docstring)."""
        changed = False
        if self.park_id is None and park_id is not None:
            self.park_id, changed = park_id, True
        for unit in units:
            if allocated_at is not None:
                unit = replace(unit, allocated_at=allocated_at)
            changed = self._allocate(unit) or changed
        return changed

    def _allocate(self, unit: HeldUnit) -> bool:
        held = self.units.get(unit.unit_id)
        ended = self.ended.get(unit.unit_id, {})
        if held is not None and held.contract_id == unit.contract_id:
            # The same contract again (a redelivery): its terms, at its first known time.
            again = replace(unit, allocated_at=_earliest(held.allocated_at, unit.allocated_at))
            if again == held:
                return False
            self.units[unit.unit_id] = again
            return True
        if unit.contract_id in ended:
            # Released (or followed by a newer one) already: stays ended; its time tells
            # whether a contract held now is older, and so ended before it began.
            known = ended[unit.contract_id]
            time = _earliest(known, unit.allocated_at)
            changed = time != known
            ended[unit.contract_id] = time
            if time is not None and held is not None and held.order < (time, unit.contract_id):
                self._end(held)
                changed = True
            return changed
        if any(order > unit.order for order in self._orders(unit.unit_id)):
            # An older contract than one already known: it ended before that one began.
            self.ended.setdefault(unit.unit_id, {})[unit.contract_id] = unit.allocated_at
            return True
        if held is not None:
            self._end(held)  # followed by this newer contract: it ended
        self.units[unit.unit_id] = unit
        return True

    def _orders(self, unit_id: str) -> list[tuple[datetime, str]]:
        """The known places (allocation time, contract id) of the unit's contracts."""
        orders = [
            (time, contract_id)
            for contract_id, time in self.ended.get(unit_id, {}).items()
            if time is not None
        ]
        if unit_id in self.units:
            orders.append(self.units[unit_id].order)
        return orders

    def _end(self, unit: HeldUnit) -> None:
        del self.units[unit.unit_id]
        self.ended.setdefault(unit.unit_id, {})[unit.contract_id] = unit.allocated_at

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
        held under that contract; returns those dropped. The contract is remembered as
        ended for every named unit, held or not: a release that arrives before its
        allocation, or one of an older contract, leaves a later ``units_allocated`` of
        that contract no effect. Without a ``contract_id`` (an older onboarding) only the
        contracts held now are."""
        dropped = []
        for unit_id in dict.fromkeys(unit_ids):
            held = self.units.get(unit_id)
            if held is not None and contract_id in (None, held.contract_id):
                self._end(held)
                dropped.append(unit_id)
            elif contract_id is not None:
                self.ended.setdefault(unit_id, {}).setdefault(contract_id, None)
        return dropped

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
            "ended": [
                {"unit_id": unit_id, "contract_id": contract_id, "allocated_at": _iso(time)}
                for unit_id in sorted(self.ended)
                for contract_id, time in sorted(self.ended[unit_id].items())
            ],
        }

    @classmethod
    def from_state(cls, enterprise_id: str, state: dict) -> Holding:
        started = state.get("production_started_on")
        ended: dict[str, dict[str, datetime | None]] = {}
        for record in state.get("ended", []):
            ended.setdefault(record["unit_id"], {})[record["contract_id"]] = _datetime(
                record["allocated_at"]
            )
        return cls(
            enterprise_id=enterprise_id,
            park_id=state.get("park_id"),
            admitted=bool(state.get("admitted")),
            production_started_on=date.fromisoformat(started) if started else None,
            units={u["unit_id"]: HeldUnit.from_dict(u) for u in state.get("units", [])},
            ended=ended,
        )


def _earliest(*times: datetime | None) -> datetime | None:
    known = [time for time in times if time is not None]
    return min(known) if known else None


def _iso(time: datetime | None) -> str | None:
    return time.isoformat() if time is not None else None


def _datetime(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None
