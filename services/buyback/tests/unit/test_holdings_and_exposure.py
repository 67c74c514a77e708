"""The projection of an enterprise's units, and the exposure report built on it."""

from datetime import date

import pytest

from services.buyback.domain.errors import Conflict
from services.buyback.domain.exposure import exposure_report
from services.buyback.domain.holdings import HeldUnit, Holding
from services.buyback.tests.unit.builders import holding

PARK = "aux-shangjie"


def test_leased_units_are_recorded_but_not_purchased():
    h = Holding("ent-1")
    h.allocate(
        [HeldUnit("B01-1F-01", "lease", None, "c"), HeldUnit("B01-1F-02", "purchase", 9, "c")],
        "aux-shangjie",
    )
    assert [u.unit_id for u in h.purchased_units()] == ["B01-1F-02"]
    assert set(h.units) == {"B01-1F-01", "B01-1F-02"}


def test_the_same_allocation_again_changes_nothing():
    h = holding()
    assert not h.allocate(list(h.units.values()), "aux-shangjie")


def test_another_production_start_date_is_a_conflict_and_the_same_is_no_change():
    h = holding(started_on=date(2020, 3, 1))
    assert not h.start_production(date(2020, 3, 1))
    with pytest.raises(Conflict):
        h.start_production(date(2021, 1, 1))


def test_a_release_drops_only_the_units_held():
    h = holding()
    assert h.release(["B07-2F-03", "B99-1F-01"]) == ["B07-2F-03"]
    assert set(h.units) == {"B07-2F-04"}


def test_the_building_is_the_unit_ids_prefix():
    assert HeldUnit("B07-2F-03", "purchase", 1, "c").building == "B07"
    assert HeldUnit("S01", "purchase", 1, "c").building == "S01"


def exposure_park():
    return [
        holding(
            "ent-a",
            started_on=date(2020, 3, 1),  # last day 2030-02-28
            units=(
                HeldUnit("B07-2F-03", "purchase", 96_000_000, "c1"),
                HeldUnit("B07-2F-04", "purchase", 96_000_000, "c1"),
                HeldUnit("B02-1F-01", "lease", None, "c2"),
            ),
        ),
        holding(
            "ent-b",
            started_on=date(2024, 2, 29),  # last day 2034-02-27
            units=(HeldUnit("S03", "purchase", 320_000_000, "c3"),),
        ),
        holding(
            "ent-c",
            started_on=date(2016, 11, 27),  # last day 2026-11-26: expired on 2026-11-27
            units=(HeldUnit("B07-1F-01", "purchase", 96_000_000, "c4"),),
        ),
        holding(
            "ent-d",
            started_on=None,
            units=(HeldUnit("B10-3F-01", "purchase", 96_000_000, "c5"),),
        ),
    ]


def test_exposure_sums_original_prices_inside_the_window_by_year_and_building():
    report = exposure_report(PARK, exposure_park(), date(2026, 11, 27))
    assert report["total_fen"] == 512_000_000
    assert report["units"] == 3
    assert report["by_year_of_expiry"] == [
        {"year": 2030, "total_fen": 192_000_000, "units": 2},
        {"year": 2034, "total_fen": 320_000_000, "units": 1},
    ]
    assert report["by_building"] == [
        {"building": "B07", "total_fen": 192_000_000, "units": 2},
        {"building": "S03", "total_fen": 320_000_000, "units": 1},
    ]
    assert report["not_started"] == {"total_fen": 96_000_000, "units": 1}


def test_a_unit_counts_on_its_windows_last_day_and_not_on_the_anniversary():
    park = [exposure_park()[2]]
    assert exposure_report(PARK, park, date(2026, 11, 26))["total_fen"] == 96_000_000
    assert exposure_report(PARK, park, date(2026, 11, 27))["total_fen"] == 0


def test_units_of_a_settled_claim_are_no_longer_exposure():
    report = exposure_report(
        PARK, exposure_park(), date(2026, 11, 27), frozenset({(PARK, "B07-2F-03")})
    )
    assert report["total_fen"] == 416_000_000
