"""The ten-year window, at its boundaries, on park-local dates."""

from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.buyback.domain.window import (
    last_day_of_window,
    park_date,
    tenth_anniversary,
    within_window,
)


def test_the_tenth_anniversary_is_the_same_day_ten_years_on():
    assert tenth_anniversary(date(2016, 11, 27)) == date(2026, 11, 27)


@pytest.mark.parametrize(
    ("started_on", "anniversary"),
    [
        (date(2016, 2, 29), date(2026, 2, 28)),
        (date(2024, 2, 29), date(2034, 2, 28)),
        (date(2020, 2, 29), date(2030, 2, 28)),
    ],
)
def test_a_29_february_start_has_its_anniversary_on_28_february(started_on, anniversary):
    assert tenth_anniversary(started_on) == anniversary


def test_the_day_before_the_anniversary_is_in_time_and_the_anniversary_too_late():
    started = date(2016, 11, 27)
    assert within_window(started, date(2026, 11, 26))
    assert not within_window(started, date(2026, 11, 27))
    assert last_day_of_window(started) == date(2026, 11, 26)


def test_a_29_february_start_is_in_time_on_27_february_and_too_late_on_28_february():
    started = date(2016, 2, 29)
    assert within_window(started, date(2026, 2, 27))
    assert not within_window(started, date(2026, 2, 28))
    assert not within_window(started, date(2026, 3, 1))


def test_the_production_start_day_itself_is_in_the_window_and_the_day_before_is_not():
    started = date(2020, 3, 1)
    assert within_window(started, started)
    assert not within_window(started, date(2020, 2, 29))


def test_the_park_date_turns_at_midnight_in_shanghai_not_utc():
    assert park_date(datetime(2026, 11, 26, 15, 59, 59, tzinfo=UTC)) == date(2026, 11, 26)
    assert park_date(datetime(2026, 11, 26, 16, 0, 0, tzinfo=UTC)) == date(2026, 11, 27)


def test_a_naive_time_has_no_park_date():
    with pytest.raises(ValueError):
        park_date(datetime(2026, 11, 26, 16, 0))


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(9000, 12, 31)))
def test_any_start_is_in_time_until_the_day_before_its_anniversary_and_not_after(started):
    anniversary = tenth_anniversary(started)
    assert anniversary.year == started.year + 10
    assert (anniversary.month, anniversary.day) == (
        (started.month, started.day) if (started.month, started.day) != (2, 29) else (2, 28)
    )
    assert within_window(started, started)
    assert within_window(started, last_day_of_window(started))
    assert not within_window(started, anniversary)
