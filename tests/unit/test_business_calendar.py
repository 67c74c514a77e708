"""Unit tests for shared.business_calendar.

2026 facts below come from chinese_calendar 1.11.0's data: National Day runs
2026-10-01..07, 2026-10-08 is a normal Thursday and Saturday 2026-10-10 is a 调休
working day; Mid-autumn is 2026-09-25..27. The 2027 data is invented test data.
"""

import importlib.util
import json
import re
import sys
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

import shared.business_calendar as business_calendar_module
from shared.business_calendar import (
    SHANGHAI,
    BusinessCalendar,
    CalendarDataError,
    YearData,
    load_year_file,
)

FALLBACK_METRIC = "park_calendar_fallback_total"

# Invented for the tests, not official: Friday 2027-01-01 off, Saturday 2027-01-09 worked.
TEST_2027_YAML = """\
year: 2027
holidays:
  - 2027-01-01
  - "2027-02-08"
workdays:
  - 2027-01-09
"""


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


def fallback_count(year: int) -> float:
    return REGISTRY.get_sample_value(FALLBACK_METRIC, {"year": str(year)}) or 0.0


def fallback_events(logs: list[dict]) -> list[dict]:
    return [entry for entry in logs if entry["event"] == "business_calendar.fallback"]


@pytest.fixture
def calendar() -> BusinessCalendar:
    return BusinessCalendar()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    (tmp_path / "2027.yaml").write_text(TEST_2027_YAML, encoding="utf-8")
    return tmp_path


# --- working days -------------------------------------------------------------------


def test_an_ordinary_weekday_is_a_working_day(calendar):
    assert calendar.is_working_day(date(2026, 1, 12))


def test_an_ordinary_weekend_has_no_working_days(calendar):
    assert not calendar.is_working_day(date(2026, 1, 10))
    assert not calendar.is_working_day(date(2026, 1, 11))


@pytest.mark.parametrize("day", range(1, 8))
def test_national_day_2026_is_a_holiday_from_october_1_to_7(calendar, day):
    assert not calendar.is_working_day(date(2026, 10, day))


def test_work_resumes_on_thursday_october_8_2026(calendar):
    assert calendar.is_working_day(date(2026, 10, 8))


def test_saturday_october_10_2026_is_a_make_up_working_day(calendar):
    assert calendar.is_working_day(date(2026, 10, 10))


@pytest.mark.parametrize("day", [date(2026, 2, 14), date(2026, 2, 28), date(2026, 5, 9)])
def test_other_make_up_saturdays_of_2026_are_working_days(calendar, day):
    assert calendar.is_working_day(day)


def test_an_aware_datetime_is_judged_by_its_shanghai_date(calendar):
    # 17:00Z on Friday is already 01:00 on Saturday in Shanghai.
    assert not calendar.is_working_day(datetime(2026, 1, 9, 17, 0, tzinfo=UTC))


def test_package_years_have_official_data(calendar):
    assert calendar.has_official_data(2026)


# --- day deadlines ------------------------------------------------------------------


def test_a_day_deadline_ends_at_24_00_shanghai_which_is_16_00_utc(calendar):
    deadline = calendar.add_business_days(local(2026, 1, 12, 10, 0), 1)
    assert deadline == datetime(2026, 1, 13, 16, 0, tzinfo=UTC)
    assert deadline.tzinfo is UTC
    assert deadline.astimezone(SHANGHAI) == local(2026, 1, 14, 0, 0)


def test_one_business_day_from_a_friday_ends_with_monday(calendar):
    deadline = calendar.add_business_days(local(2026, 1, 9, 15, 0), 1)
    assert deadline == datetime(2026, 1, 12, 16, 0, tzinfo=UTC)


def test_the_starting_day_never_counts_even_at_one_minute_past_midnight(calendar):
    deadline = calendar.add_business_days(local(2026, 1, 12, 0, 1), 1)
    assert deadline == datetime(2026, 1, 13, 16, 0, tzinfo=UTC)


def test_the_starting_day_is_the_shanghai_date_not_the_utc_date(calendar):
    # Sunday 20:00Z is Monday 04:00 in Shanghai, so Monday is day 0 and Tuesday day 1.
    deadline = calendar.add_business_days(datetime(2026, 1, 11, 20, 0, tzinfo=UTC), 1)
    assert deadline == datetime(2026, 1, 13, 16, 0, tzinfo=UTC)


def test_a_day_deadline_skips_the_national_day_holiday(calendar):
    deadline = calendar.add_business_days(local(2026, 9, 30, 10, 0), 1)
    assert deadline == datetime(2026, 10, 8, 16, 0, tzinfo=UTC)


def test_a_day_deadline_counts_the_make_up_saturday(calendar):
    deadline = calendar.add_business_days(local(2026, 9, 30, 10, 0), 3)
    assert deadline == datetime(2026, 10, 10, 16, 0, tzinfo=UTC)


@pytest.mark.parametrize("days", [0, -1])
def test_fewer_than_one_business_day_is_rejected(calendar, days):
    with pytest.raises(ValueError, match="at least 1"):
        calendar.add_business_days(local(2026, 1, 12, 10, 0), days)


def test_fractional_business_days_are_rejected(calendar):
    with pytest.raises(TypeError):
        calendar.add_business_days(local(2026, 1, 12, 10, 0), 1.5)


# --- working hours ------------------------------------------------------------------


def test_business_hours_within_one_window_simply_add_up(calendar):
    result = calendar.add_business_hours(local(2026, 1, 12, 9, 30), 2)
    assert result == local(2026, 1, 12, 11, 30)
    assert result.tzinfo is UTC


def test_business_hours_stop_over_the_lunch_break(calendar):
    result = calendar.add_business_hours(local(2026, 1, 12, 11, 0), 2)
    assert result == local(2026, 1, 12, 14, 0)


def test_business_hours_stop_over_the_night(calendar):
    result = calendar.add_business_hours(local(2026, 1, 12, 17, 0), 2)
    assert result == local(2026, 1, 13, 10, 0)


def test_business_hours_stop_over_the_weekend(calendar):
    result = calendar.add_business_hours(local(2026, 1, 9, 17, 0), 2)
    assert result == local(2026, 1, 12, 10, 0)


def test_business_hours_stop_over_the_national_day_holiday(calendar):
    result = calendar.add_business_hours(local(2026, 9, 30, 17, 0), 2)
    assert result == local(2026, 10, 8, 10, 0)


def test_business_hours_starting_before_opening_count_from_opening(calendar):
    result = calendar.add_business_hours(local(2026, 1, 12, 7, 0), 1)
    assert result == local(2026, 1, 12, 10, 0)


def test_business_hours_starting_during_lunch_count_from_the_afternoon(calendar):
    result = calendar.add_business_hours(local(2026, 1, 12, 12, 30), 1)
    assert result == local(2026, 1, 12, 14, 0)


def test_business_hours_starting_on_a_holiday_count_from_the_next_working_day(calendar):
    result = calendar.add_business_hours(local(2026, 10, 3, 11, 0), 1)
    assert result == local(2026, 10, 8, 10, 0)


def test_a_full_working_day_of_hours_ends_at_closing_time_not_next_morning(calendar):
    result = calendar.add_business_hours(local(2026, 1, 12, 9, 0), 8)
    assert result == local(2026, 1, 12, 18, 0)


def test_business_hours_accept_a_timedelta(calendar):
    result = calendar.add_business_hours(local(2026, 1, 12, 9, 0), timedelta(minutes=90))
    assert result == local(2026, 1, 12, 10, 30)


def test_zero_business_hours_return_the_instant_itself(calendar):
    assert calendar.add_business_hours(local(2026, 1, 10, 3, 0), 0) == local(2026, 1, 10, 3, 0)


def test_negative_business_hours_are_rejected(calendar):
    with pytest.raises(ValueError, match="negative"):
        calendar.add_business_hours(local(2026, 1, 12, 9, 0), -1)


def test_custom_working_hours_are_used():
    early = BusinessCalendar(working_hours=[(time(8, 0), time(16, 0))])
    assert early.add_business_hours(local(2026, 1, 12, 15, 0), 2) == local(2026, 1, 13, 9, 0)


@pytest.mark.parametrize(
    "windows",
    [
        [],
        [(time(12, 0), time(9, 0))],
        [(time(9, 0), time(13, 0)), (time(12, 0), time(18, 0))],
        [(time(13, 0), time(18, 0)), (time(9, 0), time(12, 0))],
    ],
    ids=["empty", "backwards", "overlapping", "out-of-order"],
)
def test_invalid_working_hours_are_rejected(windows):
    with pytest.raises(ValueError, match="working"):
        BusinessCalendar(working_hours=windows)


# --- business time between two instants ---------------------------------------------


def test_business_time_between_is_zero_when_end_is_not_after_start(calendar):
    start = local(2026, 1, 12, 10, 0)
    assert calendar.business_time_between(start, start) == timedelta(0)
    assert calendar.business_time_between(start, start - timedelta(hours=3)) == timedelta(0)


def test_business_time_between_excludes_lunch_and_night(calendar):
    elapsed = calendar.business_time_between(local(2026, 1, 12, 11, 0), local(2026, 1, 13, 10, 0))
    assert elapsed == timedelta(hours=1 + 5 + 1)


def test_business_time_between_excludes_the_national_day_holiday(calendar):
    elapsed = calendar.business_time_between(local(2026, 9, 30, 0, 0), local(2026, 10, 9, 0, 0))
    assert elapsed == timedelta(hours=16)


@pytest.mark.parametrize(
    "start",
    [
        local(2026, 1, 12, 9, 0),
        local(2026, 1, 12, 11, 59, 30),
        local(2026, 1, 12, 12, 30),
        local(2026, 1, 9, 17, 45),
        local(2026, 9, 30, 15, 0),
        datetime(2026, 10, 4, 23, 0, tzinfo=UTC),
    ],
)
@pytest.mark.parametrize("hours", [0, 0.25, 1, 3.7, 8, 20, 123.456])
def test_business_time_between_undoes_add_business_hours(calendar, start, hours):
    end = calendar.add_business_hours(start, hours)
    assert calendar.business_time_between(start, end) == timedelta(hours=hours)


# --- naive datetimes ----------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda cal, naive: cal.add_business_days(naive, 1),
        lambda cal, naive: cal.add_business_hours(naive, 1),
        lambda cal, naive: cal.business_time_between(naive, datetime.now(UTC)),
        lambda cal, naive: cal.business_time_between(datetime.now(UTC), naive),
        lambda cal, naive: cal.is_working_day(naive),
    ],
    ids=["add_business_days", "add_business_hours", "between-start", "between-end", "is_day"],
)
def test_naive_datetimes_are_rejected_with_a_clear_message(calendar, call):
    with pytest.raises(ValueError, match="must be a timezone-aware datetime"):
        call(calendar, datetime(2026, 1, 12, 10, 0))


# --- operator data and fallback -----------------------------------------------------


def test_a_2027_holiday_from_an_operator_file_is_not_a_working_day(data_dir):
    calendar = BusinessCalendar.from_directory(data_dir)
    assert not calendar.is_working_day(date(2027, 1, 1))
    assert not calendar.is_working_day(date(2027, 2, 8))


def test_a_2027_make_up_saturday_from_an_operator_file_is_a_working_day(data_dir):
    calendar = BusinessCalendar.from_directory(data_dir)
    assert calendar.is_working_day(date(2027, 1, 9))


def test_a_year_with_an_operator_file_has_official_data_and_never_falls_back(data_dir):
    calendar = BusinessCalendar.from_directory(data_dir)
    before = fallback_count(2027)
    with capture_logs() as logs:
        deadline = calendar.add_business_days(local(2026, 12, 31, 10, 0), 1)
    assert calendar.has_official_data(2027)
    assert deadline == datetime(2027, 1, 4, 16, 0, tzinfo=UTC)
    assert fallback_events(logs) == []
    assert fallback_count(2027) == before


def test_operator_data_replaces_the_package_data_for_its_year(tmp_path):
    # Pretend a late notice moved the end of the 2026 National Day holiday by one day.
    (tmp_path / "2026.json").write_text(
        json.dumps({"year": 2026, "holidays": ["2026-10-08"], "workdays": []}), encoding="utf-8"
    )
    calendar = BusinessCalendar.from_directory(tmp_path)
    assert not calendar.is_working_day(date(2026, 10, 8))
    assert calendar.is_working_day(date(2026, 10, 1))


def test_a_year_without_data_falls_back_to_monday_to_friday(calendar):
    assert not calendar.has_official_data(2027)
    assert calendar.is_working_day(date(2027, 1, 1))
    assert not calendar.is_working_day(date(2027, 1, 9))


def test_a_deadline_running_into_a_year_without_data_does_not_raise(calendar):
    deadline = calendar.add_business_days(local(2026, 12, 31, 10, 0), 1)
    assert deadline == datetime(2027, 1, 1, 16, 0, tzinfo=UTC)


def test_the_fallback_warning_is_logged_once_per_year_per_calendar(calendar):
    with capture_logs() as logs:
        calendar.add_business_hours(local(2028, 1, 3, 9, 0), 200)
        calendar.is_working_day(date(2028, 6, 1))
        calendar.is_working_day(date(2029, 6, 1))
    events = fallback_events(logs)
    assert [event["year"] for event in events] == [2028, 2029]
    assert all(event["log_level"] == "warning" for event in events)


def test_each_new_calendar_warns_again_about_the_same_year():
    with capture_logs() as logs:
        BusinessCalendar().is_working_day(date(2030, 3, 4))
        BusinessCalendar().is_working_day(date(2030, 3, 4))
    assert len(fallback_events(logs)) == 2


def test_every_fallback_lookup_increments_the_counter(calendar):
    before = fallback_count(2031)
    for day in range(1, 4):
        calendar.is_working_day(date(2031, 3, day))
    assert fallback_count(2031) == before + 3


def test_importing_the_module_a_second_time_reuses_the_fallback_counter(monkeypatch):
    spec = importlib.util.spec_from_file_location(
        "business_calendar_copy", business_calendar_module.__file__
    )
    copy = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "business_calendar_copy", copy)
    spec.loader.exec_module(copy)
    before = fallback_count(2032)
    copy.BusinessCalendar().is_working_day(date(2032, 5, 5))
    assert fallback_count(2032) == before + 1


# --- invalid data files -------------------------------------------------------------

VALID = {"year": 2027, "holidays": ["2027-01-01"], "workdays": ["2027-01-09"]}


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ({**VALID, "holidays": ["2028-01-01"]}, "holidays: 2028-01-01 is not in year 2027"),
        ({**VALID, "holidays": ["2027-01-09"]}, "2027-01-09 is listed both in holidays and"),
        ({**VALID, "holidays": ["2027/01/01"]}, "holidays: '2027/01/01' is not an ISO date"),
        ({**VALID, "holidays": ["20270101"]}, "holidays: '20270101' is not an ISO date"),
        ({**VALID, "holidays": ["2027-02-30"]}, "holidays: '2027-02-30' is not a valid date"),
        ({**VALID, "holidays": [20270101]}, "holidays: 20270101 is not an ISO date"),
        ({**VALID, "holidays": "2027-01-01"}, "holidays: expected a list of dates"),
        ({**VALID, "workdays": ["2027-01-08"]}, "workdays: 2027-01-08 is a Friday"),
        ({**VALID, "workdays": ["2027-01-09"] * 2}, "workdays: 2027-01-09 is listed twice"),
        ({**VALID, "year": "2027"}, "year: '2027' is not a year number"),
        ({**VALID, "workday": []}, "unknown key(s): workday"),
        ({"year": 2027, "holidays": []}, "missing key(s): workdays"),
        (["2027-01-01"], "expected a mapping"),
    ],
    ids=[
        "other-year",
        "both-lists",
        "slashes",
        "compact",
        "impossible-date",
        "number",
        "not-a-list",
        "weekday-workday",
        "duplicate",
        "string-year",
        "unknown-key",
        "missing-key",
        "not-a-mapping",
    ],
)
def test_an_invalid_data_file_is_rejected_naming_the_file_and_entry(tmp_path, document, problem):
    path = tmp_path / "2027.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(CalendarDataError) as excinfo:
        load_year_file(path)
    assert str(excinfo.value).startswith(f"{path}: ")
    assert problem in str(excinfo.value)


def test_a_yaml_file_with_a_non_iso_date_is_rejected_although_yaml_would_accept_it(tmp_path):
    path = tmp_path / "2027.yaml"
    path.write_text("year: 2027\nholidays: [2027-1-1]\nworkdays: []\n", encoding="utf-8")
    with pytest.raises(CalendarDataError, match=r"'2027-1-1' is not an ISO date"):
        load_year_file(path)


@pytest.mark.parametrize(
    ("name", "text"),
    [("2027.yaml", "year: [2027\n"), ("2027.json", '{"year": 2027,')],
)
def test_a_file_that_does_not_parse_is_rejected_naming_the_file(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CalendarDataError, match=rf"^{re.escape(str(path))}: cannot parse file"):
        load_year_file(path)


def test_two_files_for_the_same_year_are_rejected_naming_both(data_dir):
    (data_dir / "2027-copy.json").write_text(json.dumps(VALID), encoding="utf-8")
    with pytest.raises(CalendarDataError) as excinfo:
        BusinessCalendar.from_directory(data_dir)
    assert "2027-copy.json" in str(excinfo.value)
    assert "2027.yaml" in str(excinfo.value)


def test_a_directory_load_ignores_files_that_are_not_data(data_dir):
    (data_dir / "README.md").write_text("# not data\n", encoding="utf-8")
    assert BusinessCalendar.from_directory(data_dir).has_official_data(2027)


def test_a_missing_data_directory_is_rejected_naming_it(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(CalendarDataError, match="nowhere: calendar data directory does not"):
        BusinessCalendar.from_directory(missing)


def test_in_memory_year_data_is_validated_too():
    with pytest.raises(CalendarDataError, match="2026-12-31 is not in year 2027"):
        YearData(2027, holidays={date(2026, 12, 31)})


def test_extra_years_must_be_keyed_by_their_own_year():
    with pytest.raises(ValueError, match=r"extra_years\[2028\]"):
        BusinessCalendar(extra_years={2028: YearData(2027)})
