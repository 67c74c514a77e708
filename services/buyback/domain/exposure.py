"""The park's potential buyback liability: the original prices of purchased units whose
ten-year window is still open on a date, by year of expiry and by building (fen)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date

from services.buyback.domain.holdings import Holding
from services.buyback.domain.window import last_day_of_window


def exposure_report(
    park_id: str,
    holdings: Iterable[Holding],
    as_of: date,
    settled_units: frozenset[tuple[str | None, str]] = frozenset(),
) -> dict:
    """One park's liability: purchased units (recorded price) of its enterprises whose
    production started on or before ``as_of`` and whose window's last day is ``as_of`` or
    later. A unit's year of expiry is the year of the last day a claim on it is in time.
    Units of a settled claim (``settled_units``, ``(park_id, unit_id)``, awaiting their
    release) are already owed, not exposure. Purchased units of enterprises that have not
    started production are counted apart (``not_started``): their window has not begun.
    Both parks number their units alike (B01-…): holdings of other parks are never
    counted, and a settled unit only hides the unit of its own park."""
    by_year: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    by_building: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    not_started = [0, 0]
    total = [0, 0]
    for holding in holdings:
        if holding.park_id != park_id:
            continue
        started = holding.production_started_on
        for unit in holding.purchased_units():
            if (park_id, unit.unit_id) in settled_units:
                continue
            if started is None or started > as_of:
                not_started[0] += unit.price_fen
                not_started[1] += 1
                continue
            last_day = last_day_of_window(started)
            if last_day < as_of:
                continue
            for bucket in (by_year[last_day.year], by_building[unit.building], total):
                bucket[0] += unit.price_fen
                bucket[1] += 1
    return {
        "park_id": park_id,
        "as_of": as_of.isoformat(),
        "total_fen": total[0],
        "units": total[1],
        "by_year_of_expiry": [
            {"year": year, "total_fen": fen, "units": count}
            for year, (fen, count) in sorted(by_year.items())
        ],
        "by_building": [
            {"building": building, "total_fen": fen, "units": count}
            for building, (fen, count) in sorted(by_building.items())
        ],
        "not_started": {"total_fen": not_started[0], "units": not_started[1]},
    }
