"""Planning a park reload: the file rules units nobody holds, and never touches held ones."""

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from services.onboarding.domain.park import Building, CustomUnit, Prices
from services.onboarding.domain.park_reload import plan_reload
from services.onboarding.domain.units import Tenure, UnitStatus
from services.onboarding.tests.unit.builders import make_park, units_of

PARK = make_park()  # B01: 2 floors × 3 rooms of 300 m²; S01 of 1,000 m²


def held(units, unit_id, status):
    unit = units[unit_id]
    unit.reserve("app-1")
    if status != UnitStatus.RESERVED:
        tenure = Tenure.PURCHASE if status == UnitStatus.SOLD else Tenure.LEASE
        unit.allocate("app-1", tenure, "ent-1", "contract-1")
    return units


def test_the_same_file_plans_nothing():
    plan = plan_reload(PARK, units_of(PARK))
    assert (plan.added, plan.changed, plan.removed, plan.kept, plan.refused) == ((),) * 5


def test_a_new_custom_unit_is_added_and_a_dropped_one_removed():
    edited = replace(PARK, custom_units=(CustomUnit("S02", 800),))
    plan = plan_reload(edited, units_of(PARK))
    assert [unit.unit_id for unit in plan.added] == ["S02"]
    assert plan.removed == ("S01",)


def test_new_prices_change_available_units_and_leave_held_ones_with_theirs():
    stored = held(units_of(PARK), "B01-1F-01", UnitStatus.LEASED)
    edited = replace(PARK, prices=Prices(350_000, 1_600, 150))
    plan = plan_reload(edited, stored)
    assert plan.kept == ("B01-1F-01",)
    assert "B01-1F-01" not in {unit.unit_id for unit in plan.updated}
    assert {str(c) for _, changes in plan.changed for c in changes} == {
        "purchase_price_per_m2_fen 320000 → 350000",
        "monthly_rent_per_m2_fen 1500 → 1600",
    }
    assert plan.refused == ()


def test_a_held_unit_whose_area_changes_is_refused_by_name():
    stored = held(units_of(PARK), "S01", UnitStatus.RESERVED)
    plan = plan_reload(replace(PARK, custom_units=(CustomUnit("S01", 1200),)), stored)
    assert plan.refused == ("S01 is reserved: the file changes its area_m2 (area_m2 1000 → 1200)",)


_BUILDINGS = st.lists(
    st.builds(
        Building.uniform,
        id=st.sampled_from(["B01", "B02"]),
        floors=st.integers(1, 3),
        rooms_per_floor=st.integers(1, 4),
        room_area_m2=st.sampled_from([300, 500]),
    ),
    max_size=2,
    unique_by=lambda building: building.id,
)
_CUSTOM = st.lists(
    st.builds(CustomUnit, st.sampled_from(["S01", "S02"]), st.sampled_from([1000, 1200])),
    max_size=2,
    unique_by=lambda unit: unit.id,
)
_PRICES = st.builds(Prices, st.sampled_from([320_000, 350_000]), st.just(1_500), st.just(150))


@settings(max_examples=200, deadline=None)
@given(
    buildings=_BUILDINGS,
    custom=_CUSTOM,
    prices=_PRICES,
    holds=st.dictionaries(
        st.sampled_from([spec.unit_id for spec in PARK.units]),
        st.sampled_from([UnitStatus.RESERVED, UnitStatus.SOLD, UnitStatus.LEASED]),
    ),
)
def test_any_edit_leaves_held_units_alone_and_makes_the_rest_match_the_file(
    buildings, custom, prices, holds
):
    stored = units_of(PARK)
    for unit_id, status in holds.items():
        held(stored, unit_id, status)
    edited = replace(PARK, buildings=tuple(buildings), custom_units=tuple(custom), prices=prices)
    wanted = {spec.unit_id: spec for spec in edited.units}

    plan = plan_reload(edited, stored)

    touched = {u.unit_id for u in plan.updated} | set(plan.removed)
    assert not touched & set(holds)
    refused = {message.split(" ", 1)[0] for message in plan.refused}
    assert refused <= set(holds)
    # A held unit the file drops, or whose area it changes, is refused; else it is kept.
    for unit_id in holds:
        spec = wanted.get(unit_id)
        assert (unit_id in refused) == (spec is None or spec.area_m2 != stored[unit_id].area_m2)
    if not plan.refused:  # applying the plan makes the available units the file's
        after = {k: v for k, v in stored.items() if k not in plan.removed}
        after |= {u.unit_id: u for u in plan.added + plan.updated}
        assert set(after) == set(wanted)
        for unit_id, spec in wanted.items():
            if unit_id not in holds:
                assert (after[unit_id].area_m2, after[unit_id].purchase_price_per_m2_fen) == (
                    spec.area_m2,
                    spec.purchase_price_per_m2_fen,
                )


def test_the_report_groups_units_with_the_same_changes():
    stored = held(units_of(PARK), "S01", UnitStatus.SOLD)
    edited = replace(
        PARK,
        prices=Prices(350_000, 1_500, 150),
        buildings=(Building.uniform("B01", floors=1, rooms_per_floor=3, room_area_m2=300),),
    )
    assert plan_reload(edited, stored).details() == [
        "changed B01-1F-01, B01-1F-02, B01-1F-03: purchase_price_per_m2_fen 320000 → 350000",
        "removed B01-2F-01, B01-2F-02, B01-2F-03",
        "kept their prices (held) S01",
    ]


def test_a_long_list_of_units_is_cut_short_in_the_report():
    edited = replace(PARK, prices=Prices(350_000, 1_500, 150))
    [line] = plan_reload(edited, units_of(PARK)).details()
    assert line.startswith("changed 7 units (B01-1F-01, B01-1F-02, B01-1F-03, B01-2F-01, ")
    assert ", …, S01): purchase_price_per_m2_fen" in line
