"""Charges: purchase schedule, rent, property fees, utilities from meter readings, paid
services."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.billing.domain.charges import (
    CATCH_UP_MONTHS,
    MeterState,
    ReadingOutcome,
    billable_months,
    parse_reading,
    property_fee_charge,
    purchase_schedule,
    rebaseline,
    record_reading,
    rent_charge,
    service_fee,
    utility_charge,
)
from services.billing.domain.errors import Refused
from services.billing.domain.proration import Month
from services.billing.domain.terms import BillingTerms
from services.billing.domain.vat import Category
from services.billing.tests.unit.builders import TERMS, leased, purchased

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def test_a_purchase_is_a_30_percent_down_payment_then_six_equal_instalments():
    schedule = purchase_schedule("A-101", 96_000_000, date(2026, 1, 5), TERMS)
    assert [(i.sequence, i.amount_fen, i.bill_month) for i in schedule] == [
        (0, 28_800_000, "2026-01"),
        (1, 11_200_000, "2026-02"),
        (2, 11_200_000, "2026-03"),
        (3, 11_200_000, "2026-04"),
        (4, 11_200_000, "2026-05"),
        (5, 11_200_000, "2026-06"),
        (6, 11_200_000, "2026-07"),
    ]


def test_instalments_follow_the_policys_interval():
    terms = BillingTerms(instalment_count=2, instalment_interval_months=6)
    schedule = purchase_schedule("A-101", 1_000, date(2026, 11, 30), terms)
    assert [(i.amount_fen, i.bill_month) for i in schedule] == [
        (300, "2026-11"),
        (350, "2027-05"),
        (350, "2027-11"),
    ]


@given(
    price=st.integers(min_value=0, max_value=10**12),
    ratio=st.decimals(min_value=0, max_value=1, places=4),
    count=st.integers(min_value=1, max_value=120),
)
def test_the_schedule_always_sums_exactly_to_the_price(price, ratio, count):
    terms = BillingTerms(down_payment_ratio=ratio, instalment_count=count)
    schedule = purchase_schedule("U", price, date(2026, 1, 31), terms)
    assert sum(i.amount_fen for i in schedule) == price
    balance = [i.amount_fen for i in schedule[1:]]
    assert max(balance) - min(balance) <= 1


def test_rent_is_billed_monthly_in_advance_and_prorated_from_allocation():
    unit = leased(held_from=date(2026, 11, 16))
    charge = rent_charge(unit, Month(2026, 11))
    assert (charge.category, charge.total_fen, charge.proration) == (
        Category.RENT,
        225_000,
        "15/30",
    )
    assert rent_charge(unit, Month(2026, 12)).total_fen == 450_000
    assert rent_charge(unit, Month(2026, 10)) is None


def test_a_cycle_catches_up_missed_months_only_twelve_months_back():
    # a lease held since January 2025 first billed for November 2026: rent and property
    # fees of November 2025 … November 2026, 13 months
    months = billable_months(date(2025, 1, 1), Month(2026, 11))
    assert CATCH_UP_MONTHS == 12
    assert (months[0], months[-1], len(months)) == (Month(2025, 11), Month(2026, 11), 13)
    # a unit allocated after its month's cycle: that month is billed on the next one
    assert billable_months(date(2026, 11, 16), Month(2026, 12)) == [
        Month(2026, 11),
        Month(2026, 12),
    ]


def test_a_purchased_unit_pays_no_rent_but_pays_property_fees():
    unit = purchased()
    assert rent_charge(unit, Month(2026, 11)) is None
    charge = property_fee_charge(unit, Month(2026, 11))
    assert (charge.total_fen, charge.quantity, charge.unit_price_fen) == (45_000, "300", 150)


def test_property_fee_is_prorated_and_rounded_once_per_line():
    unit = leased(held_from=date(2026, 1, 1))
    unit.area_m2 = "123.45"
    unit.monthly_property_fee_fen = 18_518  # the contract's fee: 150 × 123.45, in fen
    unit.released_on = date(2026, 2, 11)
    # 18,518 × 10 / 28 = 6,613.57… → 6,614, rounded once; the line is 1 × the fee
    charge = property_fee_charge(unit, Month(2026, 2))
    assert (charge.total_fen, charge.proration) == (6_614, "10/28")
    assert (charge.quantity, charge.unit_price_fen) == ("1", 18_518)


def test_property_fee_is_the_units_own_fee_from_its_allocation_not_a_fixed_rate():
    unit = purchased()
    unit.monthly_property_fee_fen = 60_000  # a park charging 200 fen/m² for 300 m²
    charge = property_fee_charge(unit, Month(2026, 11))
    assert (charge.total_fen, charge.quantity, charge.unit_price_fen) == (60_000, "300", 200)
    unit.monthly_property_fee_fen = 0
    assert property_fee_charge(unit, Month(2026, 11)) is None


def meter() -> MeterState:
    return MeterState(meter_id="M-1", unit_id="A-101", kind=Category.ELECTRICITY)


def test_the_first_reading_is_a_baseline_and_bills_nothing():
    m = meter()
    assert record_reading(m, "1000.5", T0) is ReadingOutcome.BASELINE
    assert utility_charge(m, 85, Month(2026, 11)) is None


def test_consumption_since_the_last_billed_reading_times_the_tariff():
    m = meter()
    record_reading(m, "1000.5", T0)
    record_reading(m, "1100.0", T0 + timedelta(minutes=15))
    record_reading(m, "1200.7", T0 + timedelta(minutes=30))
    charge = utility_charge(m, 85, Month(2026, 11))
    # 200.2 kWh × 85 fen = 17,017 fen
    assert (charge.category, charge.quantity, charge.total_fen) == (
        Category.ELECTRICITY,
        "200.2",
        17_017,
    )
    assert utility_charge(m, 85, Month(2026, 11)) is None  # billed up to 1200.7


def test_a_duplicate_reading_changes_nothing():
    m = meter()
    record_reading(m, "10", T0)
    record_reading(m, "20", T0 + timedelta(hours=1))
    assert record_reading(m, "20", T0 + timedelta(hours=1)) is ReadingOutcome.DUPLICATE
    assert utility_charge(m, 100, Month(2026, 11)).total_fen == 1_000


def test_an_out_of_order_reading_is_neither_charged_nor_counted_twice():
    m = meter()
    record_reading(m, "10", T0)
    record_reading(m, "30", T0 + timedelta(hours=2))
    assert record_reading(m, "20", T0 + timedelta(hours=1)) is ReadingOutcome.OUT_OF_ORDER
    assert utility_charge(m, 100, Month(2026, 11)).total_fen == 2_000


def test_a_decrease_is_flagged_never_billed_negative_and_keeps_the_baseline():
    m = meter()
    record_reading(m, "100", T0)
    outcome = record_reading(m, "50", T0 + timedelta(hours=1))
    assert outcome is ReadingOutcome.DECREASE and outcome.flagged
    assert utility_charge(m, 100, Month(2026, 11)) is None
    record_reading(m, "101", T0 + timedelta(hours=2))  # the misread came back to normal
    assert utility_charge(m, 100, Month(2026, 11)).total_fen == 100


def test_another_value_at_the_same_instant_is_a_flagged_conflict_and_the_first_stands():
    m = meter()
    record_reading(m, "100", T0)
    assert record_reading(m, "105", T0) is ReadingOutcome.CONFLICT
    assert m.last_reading == "100"


def test_an_operator_rebaselines_a_replaced_meter():
    m = meter()
    record_reading(m, "100", T0)
    rebaseline(m, "0", T0 + timedelta(hours=1))
    record_reading(m, "7", T0 + timedelta(hours=2))
    assert utility_charge(m, 100, Month(2026, 11)).total_fen == 700


@pytest.mark.parametrize("bad", ["", "-1", "NaN", "Infinity", "1e13", "1.0000001", "abc", "1" * 40])
def test_a_reading_that_is_not_a_bounded_decimal_string_is_refused(bad):
    with pytest.raises(Refused) as caught:
        parse_reading(bad)
    assert caught.value.reason == "invalid_reading"


@given(st.one_of(st.text(max_size=40), st.integers(), st.floats(), st.none()))
def test_any_hostile_reading_is_refused_or_accepted_never_a_crash(value):
    try:
        parsed = parse_reading(value)
    except Refused:
        return
    assert 0 <= parsed < Decimal(10) ** 12


def test_a_paid_service_bills_the_fee_and_owes_the_firm_the_fee_less_commission():
    fee = service_fee("t-1", "firm-1", "legal_consult", 33_335, Decimal("0.10"))
    # 10 % of 33,335 = 3,333.5 → 3,334 (half up); payable 30,001
    assert (fee.commission_fen, fee.firm_payable_fen) == (3_334, 30_001)
    assert (fee.charge.category, fee.charge.total_fen, fee.charge.source) == (
        Category.SERVICE,
        33_335,
        "service:t-1",
    )


@given(fee=st.integers(min_value=0, max_value=10**12), rate=st.decimals(0, 1, places=4))
def test_commission_and_payable_always_sum_to_the_fee(fee, rate):
    split = service_fee("t", "f", "s", fee, rate)
    assert split.commission_fen + split.firm_payable_fen == fee
    assert 0 <= split.firm_payable_fen <= fee


def test_a_negative_fee_is_refused():
    with pytest.raises(Refused):
        service_fee("t", "f", "s", -1, Decimal("0.1"))


def test_a_tariff_finer_than_a_fen_is_applied_exactly_and_rounded_once():
    terms = BillingTerms(electricity_tariff_fen=Decimal("61.75"))
    m = meter()
    record_reading(m, "1000.5", T0)
    record_reading(m, "1200.7", T0 + timedelta(hours=1))
    charge = utility_charge(m, terms.electricity_tariff_fen, Month(2026, 11))
    # 200.2 kWh × 61.75 fen = 12,362.35 → 12,362 (rounding the tariff first would give 12,412)
    assert (charge.total_fen, charge.unit_price_fen) == (12_362, 62)
    assert "61.75" in charge.description


@pytest.mark.parametrize("bad", [Decimal("-1"), Decimal("NaN"), 1.5, True])
def test_a_tariff_must_be_a_non_negative_finite_amount_of_fen(bad):
    with pytest.raises(ValueError):
        BillingTerms(water_tariff_fen=bad)


@pytest.mark.parametrize("area", ["abc", "", "NaN", "-5", "0", "Infinity"])
def test_a_unit_area_that_is_not_a_positive_decimal_is_a_value_error(area):
    with pytest.raises(ValueError):
        purchased_with_area(area)


def purchased_with_area(area: str):
    from services.billing.domain.charges import HeldUnit, Tenure

    return HeldUnit(
        unit_id="U",
        tenure=Tenure.PURCHASE,
        area_m2=area,
        held_from=date(2026, 1, 1),
        price_fen=1,
    )


@pytest.mark.parametrize("bad", ["١٢", "1e3", " 12", "12 ", "+12", ".5", "5."])
def test_a_reading_is_plain_ascii_decimal_notation(bad):
    with pytest.raises(Refused):
        parse_reading(bad)
