"""Proration by calendar day: days held / days in the month, rounded once per line."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.billing.domain.proration import Month, days_held, prorate


def test_a_unit_allocated_mid_month_pays_from_its_allocation_day():
    assert prorate(450_000, Month(2026, 11), date(2026, 11, 16), None) == 225_000


def test_a_unit_released_mid_month_pays_up_to_the_day_before_release():
    # 10 of February's 28 days: 160,714.28… → 160,714
    assert prorate(450_000, Month(2026, 2), date(2025, 1, 1), date(2026, 2, 11)) == 160_714


def test_allocated_and_released_in_the_same_month():
    # 10 to 19 March: 10 of 31 days → 145,161.29… → 145,161
    assert prorate(450_000, Month(2026, 3), date(2026, 3, 10), date(2026, 3, 20)) == 145_161


def test_a_whole_month_is_the_monthly_amount_and_a_month_not_held_is_nothing():
    assert prorate(450_000, Month(2026, 12), date(2026, 11, 16), None) == 450_000
    assert prorate(450_000, Month(2026, 10), date(2026, 11, 16), None) == 0
    assert prorate(450_000, Month(2026, 12), date(2026, 1, 1), date(2026, 12, 1)) == 0


def test_a_leap_february_has_29_days():
    assert Month(2028, 2).days == 29
    assert days_held(Month(2028, 2), date(2028, 2, 15), None) == 15


def test_months_parse_print_and_add():
    assert str(Month.parse("2026-11").plus(3)) == "2027-02"
    assert Month(2026, 1).plus(-1) == Month(2025, 12)
    for bad in ("2026-13", "2026-1", "26-11", "2026/11", "abcd-ef"):
        with pytest.raises(ValueError):
            Month.parse(bad)


@given(
    monthly=st.integers(min_value=0, max_value=10**10),
    year=st.integers(min_value=2000, max_value=2100),
    month=st.integers(min_value=1, max_value=12),
    cut=st.integers(min_value=1, max_value=28),
)
def test_a_month_split_between_two_holders_sums_to_the_monthly_amount_within_a_fen(
    monthly, year, month, cut
):
    m = Month(year, month)
    split_on = m.first_day + timedelta(days=cut)
    first = prorate(monthly, m, date(1999, 1, 1), split_on)
    second = prorate(monthly, m, split_on, None)
    assert abs(first + second - monthly) <= 1


@given(st.text(max_size=12))
def test_a_month_string_parses_only_from_ascii_yyyy_mm(text):
    try:
        month = Month.parse(text)
    except ValueError:
        return
    assert str(month) == text


def test_non_ascii_digits_are_not_a_month():
    with pytest.raises(ValueError):
        Month.parse("٢٠٢٦-١١")
