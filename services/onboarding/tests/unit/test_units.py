import pytest

from services.onboarding.domain.errors import IllegalUnitTransition
from services.onboarding.domain.units import (
    Tenure,
    UnitStatus,
    release_reservations,
    reserve_units,
)
from services.onboarding.tests.unit.builders import make_park, units_of


@pytest.fixture
def units():
    return units_of(make_park())


def test_a_new_unit_is_available(units):
    assert units["B01-1F-01"].status is UnitStatus.AVAILABLE


def test_reserving_several_available_units_reserves_them_all(units):
    chosen = [units["B01-1F-01"], units["B01-1F-02"]]
    assert reserve_units(chosen, "app-1") == ()
    assert {(u.status, u.reserved_for) for u in chosen} == {(UnitStatus.RESERVED, "app-1")}


def test_reservation_is_all_or_nothing_and_names_the_unavailable_units(units):
    units["B01-1F-02"].reserve("app-other")
    chosen = [units["B01-1F-01"], units["B01-1F-02"]]
    assert reserve_units(chosen, "app-1") == ("B01-1F-02",)
    assert units["B01-1F-01"].status is UnitStatus.AVAILABLE


def test_reserving_again_for_the_same_application_changes_nothing(units):
    units["S01"].reserve("app-1")
    units["S01"].reserve("app-1")
    assert units["S01"].reserved_for == "app-1"


def test_a_unit_reserved_for_another_application_cannot_be_reserved(units):
    units["S01"].reserve("app-other")
    with pytest.raises(IllegalUnitTransition, match="is reserved, not available"):
        units["S01"].reserve("app-1")


def test_releasing_a_reservation_makes_the_unit_available(units):
    units["S01"].reserve("app-1")
    assert release_reservations([units["S01"], units["B01-1F-01"]], "app-1") == ("S01",)
    assert units["S01"].status is UnitStatus.AVAILABLE


def test_only_the_holding_application_can_release_a_reservation(units):
    units["S01"].reserve("app-other")
    with pytest.raises(IllegalUnitTransition):
        units["S01"].release_reservation("app-1")


def test_a_purchase_prices_the_unit_at_area_times_price_per_square_metre(units):
    units["B01-1F-01"].reserve("app-1")
    allocated = units["B01-1F-01"].allocate("app-1", Tenure.PURCHASE, "ent-1", "ctr-1")
    assert allocated.price_fen == 300 * 320_000 == 96_000_000
    assert allocated.monthly_rent_fen is None
    assert allocated.monthly_property_fee_fen == 300 * 150
    assert units["B01-1F-01"].status is UnitStatus.SOLD


def test_a_lease_prices_the_monthly_rent(units):
    units["S01"].reserve("app-1")
    allocated = units["S01"].allocate("app-1", Tenure.LEASE, "ent-1", "ctr-1")
    assert (allocated.price_fen, allocated.monthly_rent_fen) == (None, 1000 * 1_500)
    assert (units["S01"].status, units["S01"].holder) == (UnitStatus.LEASED, "ent-1")


def test_an_unreserved_unit_cannot_be_allocated(units):
    with pytest.raises(IllegalUnitTransition, match="cannot be allocated"):
        units["S01"].allocate("app-1", Tenure.LEASE, "ent-1", "ctr-1")


def test_a_sold_unit_cannot_be_reserved(units):
    units["S01"].reserve("app-1")
    units["S01"].allocate("app-1", Tenure.PURCHASE, "ent-1", "ctr-1")
    with pytest.raises(IllegalUnitTransition):
        units["S01"].reserve("app-2")


def test_ending_a_lease_makes_the_unit_available_again(units):
    units["S01"].reserve("app-1")
    units["S01"].allocate("app-1", Tenure.LEASE, "ent-1", "ctr-1")
    units["S01"].end_lease("ent-1")
    assert (units["S01"].status, units["S01"].holder, units["S01"].contract_id) == (
        UnitStatus.AVAILABLE,
        None,
        None,
    )


def test_a_sold_unit_has_no_lease_to_end(units):
    units["S01"].reserve("app-1")
    units["S01"].allocate("app-1", Tenure.PURCHASE, "ent-1", "ctr-1")
    with pytest.raises(IllegalUnitTransition, match="not leased by enterprise ent-1"):
        units["S01"].end_lease("ent-1")
