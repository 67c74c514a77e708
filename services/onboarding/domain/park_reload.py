"""Reloading a park file into the stored units: what changes, and what may not.

The park file is the truth for units nobody holds: a reload adds the units the file
gained, applies new areas and prices to available units, and removes available units the
file no longer lists (so they cannot be booked). A unit that is reserved, sold or leased
belongs to an application or a contract: a file that would change its area or remove it
is refused as a whole, naming each such unit, and nothing is applied. Its prices are the
terms its reservation or contract was made on, so a price change leaves it alone (it is
reported as kept) and reaches it at the first reload after it is available again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from services.onboarding.domain.errors import ParkReloadRefused
from services.onboarding.domain.park import ParkDefinition
from services.onboarding.domain.units import Unit, UnitStatus

PRICE_FIELDS = ("purchase_price_per_m2_fen", "monthly_rent_per_m2_fen", "property_fee_per_m2_fen")


@dataclass(frozen=True)
class FieldChange:
    """One value of a unit that the reloaded file changes."""

    field: str
    old: int
    new: int

    def __str__(self) -> str:
        return f"{self.field} {self.old} → {self.new}"


@dataclass(frozen=True)
class ParkReload:
    """What reloading one park file does to its stored units.

    ``added`` are new units, ``changed`` available units with new values (``updated``
    holds them as they become), ``removed`` the ids of available units the file dropped,
    ``kept`` held units whose prices the file changed but which keep their own, and
    ``refused`` one message per held unit the file would change or remove.
    """

    park_id: str
    source: str
    units: int
    added: tuple[Unit, ...] = ()
    changed: tuple[tuple[str, tuple[FieldChange, ...]], ...] = ()
    updated: tuple[Unit, ...] = ()
    removed: tuple[str, ...] = ()
    kept: tuple[str, ...] = ()
    refused: tuple[str, ...] = ()

    def details(self) -> list[str]:
        """The report's detail lines: units sharing the same changes are one line."""
        groups: dict[tuple[FieldChange, ...], list[str]] = {}
        for unit_id, changes in self.changed:
            groups.setdefault(changes, []).append(unit_id)
        lines = [
            f"changed {_units(unit_ids)}: {', '.join(map(str, changes))}"
            for changes, unit_ids in groups.items()
        ]
        if self.removed:
            lines.append(f"removed {_units(self.removed)}")
        if self.kept:
            lines.append(f"kept their prices (held) {_units(self.kept)}")
        return lines

    def summary(self) -> str:
        """One line for the operator: ``aux-shangjie: 440 units; 2 added, 1 changed, …``."""
        counts = (
            f"{len(self.added)} added, {len(self.changed)} changed, {len(self.removed)} removed"
        )
        kept = f", {len(self.kept)} held units keep their prices" if self.kept else ""
        return f"{self.park_id}: {self.units} units; {counts}{kept}"


def _units(unit_ids: Sequence[str], shown: int = 6) -> str:
    """``B01-1F-01, B01-1F-02`` or, for many, ``438 units (B01-1F-01, …, S06)``."""
    if len(unit_ids) <= shown:
        return ", ".join(unit_ids)
    return f"{len(unit_ids)} units ({', '.join(unit_ids[: shown - 1])}, …, {unit_ids[-1]})"


def plan_reload(park: ParkDefinition, stored: Mapping[str, Unit]) -> ParkReload:
    """Compare the stored units of ``park`` (by unit id) with its park file's units."""
    wanted = {spec.unit_id: spec for spec in park.units}
    added, changed, updated, kept, refused = [], [], [], [], []
    for unit_id, spec in wanted.items():
        unit = stored.get(unit_id)
        if unit is None:
            added.append(Unit.from_spec(spec))
            continue
        held = unit.status != UnitStatus.AVAILABLE
        changes = tuple(
            FieldChange(field, getattr(unit, field), getattr(spec, field))
            for field in ("area_m2", *PRICE_FIELDS)
            if getattr(unit, field) != getattr(spec, field)
        )
        if not changes:
            continue
        if not held:
            changed.append((unit_id, changes))
            updated.append(Unit.from_spec(spec))
        elif any(change.field == "area_m2" for change in changes):
            area = next(change for change in changes if change.field == "area_m2")
            refused.append(f"{unit_id} is {unit.status}: the file changes its area_m2 ({area})")
        else:
            kept.append(unit_id)
    removed = []
    for unit_id, unit in sorted(stored.items()):
        if unit_id in wanted:
            continue
        if unit.status == UnitStatus.AVAILABLE:
            removed.append(unit_id)
        else:
            refused.append(f"{unit_id} is {unit.status}: the file no longer lists it")
    return ParkReload(
        park_id=park.id,
        source=park.source,
        units=len(wanted),
        added=tuple(added),
        changed=tuple(changed),
        updated=tuple(updated),
        removed=tuple(removed),
        kept=tuple(kept),
        refused=tuple(refused),
    )


def raise_if_refused(reloads: Iterable[ParkReload]) -> None:
    """Raise :class:`ParkReloadRefused` naming every held unit any file would touch."""
    refused = [
        f"{reload.source or reload.park_id}: {message}"
        for reload in reloads
        for message in reload.refused
    ]
    if refused:
        raise ParkReloadRefused(
            "park files not loaded, nothing changed: a unit that is reserved, sold or "
            "leased cannot be changed or removed (end its reservation, lease or ownership "
            "first, or keep it in the file as it is):\n  " + "\n  ".join(refused)
        )
