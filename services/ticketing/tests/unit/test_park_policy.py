from datetime import UTC, datetime, time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.ticketing.domain.park_policy import (
    DEFAULT_BUSINESS_HOURS,
    SECTION,
    TicketingPolicy,
    TicketingPolicyError,
    load_ticketing_policies,
    load_ticketing_policy,
    parse_ticketing_policy,
)
from shared.business_calendar import DEFAULT_WORKING_HOURS, BusinessCalendar
from shared.park_file import DECLARED_SECTIONS, READ_SECTIONS
from tests.support.yaml_errors import FileErrors

# The reader under test: its errors name the file, and each problem its line and field.
FILE = FileErrors(parse_ticketing_policy, TicketingPolicyError)

REPO = Path(__file__).resolve().parents[4]
PARKS_DIR = REPO / "deploy" / "parks"

PARK = """\
park:
  id: mini
  name: 小园
  district: 上街区
prices_fen_per_m2: {purchase: 320000, monthly_rent: 1500, monthly_property_fee: 150}
buildings:
  - {id: B01, floors: 1, rooms_per_floor: 2, room_area_m2: 300}
onboarding: {}
"""
# PARK is 8 lines: the ticketing section starts on line 9, its first key on line 10.
SECTION_TEXT = """\
ticketing:
  business_hours: ["09:00-12:00", "13:00-18:00"]
  close_after_business_days: 3
  sla_warning_ratio: 0.8
"""


def _with(key: str, value: str) -> str:
    """PARK with a ticketing section whose ``key`` is set to ``value``."""
    return PARK + f"ticketing:\n  {key}: {value}\n"


# --- the demo parks ---------------------------------------------------------------------


def test_the_demo_park_keeps_the_calendars_hours_and_the_default_policy():
    policy = load_ticketing_policy(PARKS_DIR / "aux-shangjie.yaml")
    assert policy == TicketingPolicy("aux-shangjie")
    assert policy.business_hours == DEFAULT_WORKING_HOURS
    assert policy.business_hours_per_day == 8


def test_the_second_park_has_its_own_hours_delay_and_warning_point():
    policy = load_ticketing_policy(PARKS_DIR / "shangjie-equipment.yaml")
    assert policy.business_hours == ((time(8, 30), time(12, 0)), (time(13, 30), time(17, 30)))
    assert (policy.close_after_business_days, policy.sla_warning_ratio) == (5, 0.75)
    assert policy.business_hours_per_day == 7.5


def test_every_park_file_has_a_ticketing_policy():
    assert set(load_ticketing_policies(PARKS_DIR)) == {"aux-shangjie", "shangjie-equipment"}


def test_a_parks_business_hours_drive_the_shared_calendar():
    policy = load_ticketing_policy(PARKS_DIR / "shangjie-equipment.yaml")
    calendar = BusinessCalendar(working_hours=policy.business_hours)
    friday_1130 = datetime(2026, 11, 27, 3, 30, tzinfo=UTC)  # 11:30 in Zhengzhou
    # 30 minutes before lunch, the lunch break until 13:30, then 30 minutes more.
    assert calendar.add_business_hours(friday_1130, 1) == datetime(2026, 11, 27, 6, 0, tzinfo=UTC)


def test_ticketing_reads_its_own_section_of_the_park_file():
    assert SECTION in READ_SECTIONS
    assert SECTION not in DECLARED_SECTIONS


# --- defaults ---------------------------------------------------------------------------


def test_a_park_file_without_the_section_gets_the_defaults():
    policy = parse_ticketing_policy(PARK)
    assert policy == TicketingPolicy(
        "mini", DEFAULT_BUSINESS_HOURS, close_after_business_days=3, sla_warning_ratio=0.8
    )


def test_every_key_of_the_section_is_optional():
    assert parse_ticketing_policy(PARK + "ticketing: {}\n") == TicketingPolicy("mini")
    policy = parse_ticketing_policy(_with("close_after_business_days", "10"))
    assert policy.close_after_business_days == 10
    assert policy.business_hours == DEFAULT_BUSINESS_HOURS


def test_the_whole_section_is_read():
    text = PARK + SECTION_TEXT.replace("0.8", "0.9").replace("days: 3", "days: 7")
    policy = parse_ticketing_policy(text)
    assert (policy.close_after_business_days, policy.sla_warning_ratio) == (7, 0.9)


def test_a_single_window_without_lunch_is_a_valid_day():
    policy = parse_ticketing_policy(_with("business_hours", '["08:00-16:30"]'))
    assert policy.business_hours == ((time(8, 0), time(16, 30)),)


# --- errors name file, line and field -------------------------------------------------


def test_an_error_names_the_file_the_line_and_the_field():
    with pytest.raises(TicketingPolicyError) as caught:
        parse_ticketing_policy(_with("close_after_business_days", "0"), "deploy/parks/mini.yaml")
    assert "deploy/parks/mini.yaml:10: ticketing.close_after_business_days: must be" in str(
        caught.value
    )


@pytest.mark.parametrize(
    ("hours", "field"),
    [
        ('["9:00-12:00"]', "ticketing.business_hours[0]"),
        ('["09:00-24:00"]', "ticketing.business_hours[0]"),
        ('["09:00 - 12:00"]', "ticketing.business_hours[0]"),
        ('["09:60-12:00"]', "ticketing.business_hours[0]"),
        ('["12:00-09:00"]', "ticketing.business_hours[0]"),
        ('["09:00-09:00"]', "ticketing.business_hours[0]"),
        ('["09:00-12:00", "11:00-18:00"]', "ticketing.business_hours[1]"),
        ('["13:00-18:00", "09:00-12:00"]', "ticketing.business_hours[1]"),
        ("[]", "ticketing.business_hours"),
        ('"09:00-18:00"', "ticketing.business_hours"),
        ("[900]", "ticketing.business_hours[0]"),
    ],
)
def test_business_hours_are_rising_non_overlapping_hh_mm_windows(hours, field):
    assert FILE.fields(_with("business_hours", hours)) == [(10, field)]


@pytest.mark.parametrize("days", ["0", "31", "-1", "2.5", "'3'", "true", "03", "[3]"])
def test_close_after_business_days_is_an_integer_from_1_to_30(days):
    assert FILE.fields(_with("close_after_business_days", days)) == [
        (10, "ticketing.close_after_business_days")
    ]


@pytest.mark.parametrize(
    "ratio",
    [
        "0",
        "1",
        "0.0",
        "1.0",
        "1.5",
        "-0.5",
        "'0.8'",
        ".8",
        "8e-1",
        "0.8125",
        "80%",
        "true",
        ".nan",
        ".inf",
        "[0.8]",
    ],
)
def test_the_sla_warning_ratio_is_a_decimal_strictly_between_0_and_1(ratio):
    assert FILE.fields(_with("sla_warning_ratio", ratio)) == [(10, "ticketing.sla_warning_ratio")]


def test_an_unknown_key_in_the_section_is_an_error():
    assert FILE.fields(_with("sla_warning_percent", "80")) == [
        (10, "ticketing.sla_warning_percent")
    ]


def test_a_section_that_is_not_a_mapping_is_an_error():
    assert FILE.fields(PARK + "ticketing: [business_hours]\n") == [(9, "ticketing")]


def test_every_fault_of_the_section_is_reported_at_once():
    text = PARK + SECTION_TEXT.replace("0.8", "2").replace("days: 3", "days: 0")
    assert FILE.fields(text) == [
        (11, "ticketing.close_after_business_days"),
        (12, "ticketing.sla_warning_ratio"),
    ]


def test_a_park_file_without_a_park_id_is_an_error():
    assert FILE.fields(PARK.replace("  id: mini\n", "")) == [(2, "park.id")]


def test_a_section_no_service_owns_is_still_refused():
    assert FILE.fields(PARK + "ticketting: {}\n") == [(9, "ticketting")]


def test_the_policy_keeps_its_rules_when_built_in_code():
    for bad in (
        {"business_hours": ()},
        {"business_hours": ((time(12), time(9)),)},
        {"business_hours": ((time(9), time(12)), (time(11), time(13)))},
        {"close_after_business_days": 0},
        {"sla_warning_ratio": 1.0},
    ):
        with pytest.raises(ValueError):
            TicketingPolicy("mini", **bad)


# --- the directory of park files --------------------------------------------------------


def test_a_directory_without_park_files_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="no park files"):
        load_ticketing_policies(tmp_path)


def test_every_bad_file_of_a_directory_is_reported_and_a_park_defined_twice_too(tmp_path):
    (tmp_path / "a.yaml").write_text(PARK, encoding="utf-8")
    (tmp_path / "b.yaml").write_text(PARK, encoding="utf-8")
    (tmp_path / "c.yaml").write_text(_with("sla_warning_ratio", "2"), encoding="utf-8")
    with pytest.raises(ValueError) as caught:
        load_ticketing_policies(tmp_path)
    message = str(caught.value)
    assert "b.yaml: park id 'mini' is already defined in" in message
    assert "c.yaml:10: ticketing.sla_warning_ratio" in message


# --- hostile input (STYLE #10) ------------------------------------------------------------


@settings(max_examples=300, deadline=None, database=None)
@given(st.text(max_size=300))
def test_any_text_is_a_policy_or_a_reported_error(text):
    FILE.parses_or_reports(text)


_VALUES = st.one_of(
    st.sampled_from(["", "~", "[]", "{}", "-1", "0", "0.5", "1.5", "012", "true", "*x", ".nan"]),
    st.sampled_from(['["00:00-23:59"]', '["23:59-00:00"]', "[[1]]", "{a: b}", "!!binary AA=="]),
    st.lists(
        st.from_regex(r"[0-2][0-9]:[0-6][0-9]-[0-2][0-9]:[0-6][0-9]", fullmatch=True), max_size=4
    ).map(lambda windows: "[" + ", ".join(f'"{w}"' for w in windows) + "]"),
    st.integers().map(str),
    st.floats().map(str),
    st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=20).map(repr),
)


@settings(max_examples=400, deadline=None, database=None)
@given(
    st.sampled_from(["business_hours", "close_after_business_days", "sla_warning_ratio"]), _VALUES
)
def test_any_value_of_any_key_is_a_policy_or_a_reported_error(key, value):
    FILE.parses_or_reports(_with(key, value))


_CLOCK = st.builds(
    lambda hour, minute: f"{hour:02d}:{minute:02d}", st.integers(0, 23), st.integers(0, 59)
)


@settings(max_examples=400, deadline=None, database=None)
@given(st.lists(st.tuples(_CLOCK, _CLOCK).map("-".join), min_size=1, max_size=4))
def test_any_business_hours_the_policy_accepts_the_shared_calendar_accepts(windows):
    hours = "[" + ", ".join(f'"{window}"' for window in windows) + "]"
    try:
        policy = parse_ticketing_policy(_with("business_hours", hours))
    except TicketingPolicyError:
        return
    calendar = BusinessCalendar(working_hours=policy.business_hours)
    assert calendar.working_hours == policy.business_hours
    assert 0 < policy.business_hours_per_day <= 24
