"""``park calendar load|show`` (shared/tooling/calendar_cli.py): the year file's rules, each
fault with its line; installing where the services read it; showing a year by source."""

import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from shared.business_calendar import BusinessCalendar, CalendarDataError, load_year_file
from shared.tooling.calendar_cli import CalendarFileError, validate_year_text
from shared.tooling.cli import app

ROOT = Path(__file__).resolve().parents[2]

runner = CliRunner()

VALID_2027 = """\
# Illustrative values, not the official 2027 schedule
year: 2027
holidays:
  元旦: ["2027-01-01"]
  春节: [2027-02-06, 2027-02-07, "2027-02-08"]
workdays:
  - "2027-01-30"
"""


def faults(text: str) -> list[tuple[int, str, str]]:
    with pytest.raises(CalendarFileError) as raised:
        validate_year_text(text, "2027.yaml")
    return [(p.line, p.field, p.message) for p in raised.value.problems]


def year_file(holidays: dict[str, list[str]], workdays: list[str], year: int = 2027) -> str:
    lines = [f"year: {year}", "holidays:"]
    lines += [f"  {name}: {json.dumps(days)}" for name, days in holidays.items()]
    lines += ["workdays:"] + [f'  - "{day}"' for day in workdays]
    return "\n".join(lines) + ("\n" if workdays else " []\n")


# --- the rules ---------------------------------------------------------------


def test_a_valid_file_gives_the_year_its_holidays_names_and_workdays():
    data = validate_year_text(VALID_2027, "2027.yaml")

    assert data.year == 2027
    assert data.holidays == {date(2027, 1, 1), date(2027, 2, 6), date(2027, 2, 7), date(2027, 2, 8)}
    assert data.workdays == {date(2027, 1, 30)}
    assert data.holiday_names[date(2027, 2, 7)] == "春节"


def test_a_date_outside_the_year_is_refused_at_its_line():
    text = year_file({"元旦": ["2027-01-01", "2026-12-31"]}, [])

    assert faults(text) == [(3, "holidays.元旦[1]", "2026-12-31 is not in 2027")]


def test_a_date_both_holiday_and_workday_is_refused():
    text = year_file({"春节": ["2027-02-06"]}, ["2027-02-06"])

    assert faults(text) == [(5, "workdays", "2027-02-06 is also a holiday (春节)")]


def test_a_workday_that_is_not_a_weekend_day_is_refused():
    [(line, field, message)] = faults(year_file({"元旦": ["2027-01-01"]}, ["2027-01-29"]))

    assert (line, field) == (5, "workdays")
    assert message.startswith("2027-01-29 is a Friday: workdays lists only the Saturdays")


def test_holidays_without_names_are_refused_saying_how_to_name_them():
    text = 'year: 2027\nholidays:\n  - "2027-01-01"\nworkdays: []\n'

    [(line, field, message)] = faults(text)

    assert (line, field) == (3, "holidays") and "元旦: [2027-01-01]" in message


def test_a_holiday_with_an_empty_name_or_no_dates_is_refused():
    text = 'year: 2027\nholidays:\n  "": ["2027-01-01"]\n  春节: []\nworkdays: []\n'

    assert faults(text) == [
        (3, "holidays", "each holiday needs a name (text)"),
        (4, "holidays.春节", "lists no date"),
    ]


def test_a_date_under_two_names_or_twice_in_workdays_is_refused():
    text = year_file({"元旦": ["2027-01-01"], "春节": ["2027-01-01"]}, ["2027-01-30", "2027-01-30"])

    assert faults(text) == [
        (4, "holidays.春节", "2027-01-01 is already listed under 元旦"),
        (7, "workdays", "2027-01-30 is listed twice"),
    ]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("2027/01/01", "'2027/01/01' is not a date written YYYY-MM-DD"),
        ("2027-1-1", "'2027-1-1' is not a date written YYYY-MM-DD"),
        ("2027-02-29", "2027-02-29 is not a real date"),
        ("20270101", "'20270101' is not a date written YYYY-MM-DD"),
    ],
)
def test_dates_must_be_real_and_written_as_iso(entry, message):
    assert faults(year_file({"元旦": [entry]}, [])) == [(3, "holidays.元旦[0]", message)]


def test_every_fault_is_reported_not_only_the_first():
    text = "year: 2027.5\nholidays: {}\nworkdays: 7\nextra: 1\n"

    fields = [field for _, field, _ in faults(text)]

    assert fields == ["year", "holidays", "workdays", "extra"]


def test_missing_keys_and_a_file_that_is_not_yaml_are_refused_readably():
    assert faults("year: 2027\n") == [
        (1, "holidays", "is required"),
        (1, "workdays", "is required"),
    ]
    assert faults("year: [2027\n")[0][1] == "(yaml)"


# The date edge: whatever the date, it is accepted exactly when the rules allow it, and a
# refusal names the line it is on.
years = st.integers(min_value=2000, max_value=2100)
days = st.dates(min_value=date(1999, 12, 25), max_value=date(2101, 1, 7))


@settings(max_examples=300, deadline=None)
@given(year=years, day=days)
def test_a_holiday_is_accepted_exactly_when_it_lies_in_the_year(year, day):
    text = year_file({"元旦": [day.isoformat()]}, [], year=year)
    try:
        data = validate_year_text(text, "f.yaml")
    except CalendarFileError as error:
        assert day.year != year
        assert [(p.line, p.message) for p in error.problems] == [
            (3, f"{day.isoformat()} is not in {year}")
        ]
    else:
        assert day.year == year and data.holidays == {day}


@settings(max_examples=300, deadline=None)
@given(year=years, offset=st.integers(min_value=-3, max_value=368))
def test_a_workday_is_accepted_exactly_when_it_is_a_weekend_day_of_the_year(year, offset):
    day = date(year, 1, 1) + timedelta(days=offset)
    holiday = date(year, 1, 1) if day != date(year, 1, 1) else date(year, 1, 2)
    text = year_file({"元旦": [holiday.isoformat()]}, [day.isoformat()], year=year)
    allowed = day.year == year and day.weekday() >= 5
    try:
        data = validate_year_text(text, "f.yaml")
    except CalendarFileError as error:
        assert not allowed
        assert [p.line for p in error.problems] == [5]
    else:
        assert allowed and data.workdays == {day}
        # The services read the same file the same way.
        assert BusinessCalendar(extra_years={year: data}).is_working_day(day)


# --- load and show -----------------------------------------------------------


@pytest.fixture
def park(tmp_path):
    data_dir = tmp_path / "calendar"
    config = tmp_path / "config.yaml"
    config.write_text(f"CALENDAR_DATA_DIR: {data_dir}\n")

    def invoke(*args: str):
        return runner.invoke(app, ["calendar", *args, "--config", str(config)])

    invoke.data_dir = data_dir
    return invoke


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_load_then_show_round_trips_through_the_services_directory(park, tmp_path):
    loaded = park("load", write(tmp_path, "notice-2027.yaml", VALID_2027))
    shown = park("show", "2027")

    assert loaded.exit_code == 0, loaded.output
    installed = park.data_dir / "2027.yaml"
    assert f"installed as {installed}" in loaded.output
    assert installed.read_text(encoding="utf-8") == VALID_2027  # its source comment kept
    assert shown.exit_code == 0, shown.output
    assert f"2027 from operator file {installed}" in shown.output
    assert "2027-02-07 │ Sun │ holiday" in shown.output and "春节" in shown.output
    assert "2027-01-30 │ Sat │ 调休 workday" in shown.output
    assert "4 holidays, 1 调休 workdays" in shown.output
    calendar = BusinessCalendar.from_directory(park.data_dir)  # as the services start
    assert calendar.is_working_day(date(2027, 1, 30))
    assert not calendar.is_working_day(date(2027, 2, 8))


def test_a_refused_file_installs_nothing_and_names_each_fault_with_its_line(park, tmp_path):
    text = year_file({"元旦": ["2027-01-01"]}, ["2027-01-29"])

    result = park("load", write(tmp_path, "2027.yaml", text))

    assert result.exit_code == 1
    assert "2027.yaml:5: workdays: 2027-01-29 is a Friday" in result.output
    assert not park.data_dir.exists() or not any(park.data_dir.iterdir())


def test_a_year_the_package_knows_needs_force(park, tmp_path):
    path = write(tmp_path, "2026.yaml", year_file({"元旦": ["2026-01-01"]}, [], year=2026))

    refused = park("load", path)
    forced = park("load", path, "--force")
    shown = park("show", "2026")

    assert refused.exit_code == 1 and "package already knows 2026" in refused.output
    assert forced.exit_code == 0, forced.output
    assert f"2026 from operator file {park.data_dir / '2026.yaml'}" in shown.output
    assert "1 holidays, 0 调休 workdays" in shown.output


def test_a_year_with_a_file_already_is_replaced_only_with_force(park, tmp_path):
    park.data_dir.mkdir()
    old = park.data_dir / "holidays-2027.yaml"
    old.write_text(year_file({"元旦": ["2027-01-01"]}, []), encoding="utf-8")
    path = write(tmp_path, "new.yaml", VALID_2027)

    refused = park("load", path)
    assert refused.exit_code == 1 and "2027 already has a file here" in refused.output
    assert old.exists() and not (park.data_dir / "2027.yaml").exists()

    forced = park("load", path, "--force")
    assert forced.exit_code == 0, forced.output
    assert f"replaced {old}" in forced.output
    assert not old.exists() and (park.data_dir / "2027.yaml").exists()


def test_a_directory_the_services_could_not_read_is_left_as_it_was(park, tmp_path):
    park.data_dir.mkdir()
    broken = park.data_dir / "broken.yaml"
    broken.write_text("year: [\n", encoding="utf-8")

    result = park("load", write(tmp_path, "2027.yaml", VALID_2027))

    assert result.exit_code == 1, result.output
    assert "broken.yaml" in result.output
    assert sorted(p.name for p in park.data_dir.iterdir()) == ["broken.yaml"]


def test_a_json_year_file_is_installed_as_json(park, tmp_path):
    document = {"year": 2027, "holidays": {"元旦": ["2027-01-01"]}, "workdays": []}
    path = write(tmp_path, "2027.json", json.dumps(document, ensure_ascii=False))

    result = park("load", path)

    assert result.exit_code == 0, result.output
    assert load_year_file(park.data_dir / "2027.json").holidays == {date(2027, 1, 1)}


def test_a_file_that_is_not_a_year_file_is_refused(park, tmp_path):
    wrong_suffix = park("load", write(tmp_path, "2027.txt", VALID_2027))
    missing = park("load", str(tmp_path / "absent.yaml"))

    assert wrong_suffix.exit_code == 1 and "a year file ends in" in wrong_suffix.output
    assert missing.exit_code == 1 and "cannot read it" in missing.output


def test_show_names_the_package_for_a_year_it_knows(park):
    result = park("show", "2026")

    assert result.exit_code == 0, result.output
    assert "2026 from the chinese_calendar package" in result.output
    assert "2026-10-10 │ Sat │ 调休 workday │ National Day" in result.output
    assert "2026-10-01 │ Thu │ holiday      │ National Day" in result.output


def test_show_of_a_year_nobody_knows_says_so_and_exits_1(park):
    result = park("show", "2031")

    assert result.exit_code == 1
    assert "no holiday data for 2031" in result.output and "park calendar load" in result.output


# --- the services' loader reads named holidays --------------------------------


def test_the_services_loader_reads_named_holidays_and_refuses_a_date_under_two_names(tmp_path):
    good = tmp_path / "2027.yaml"
    good.write_text(VALID_2027, encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    bad.write_text(year_file({"元旦": ["2027-01-01"], "春节": ["2027-01-01"]}, []))

    assert load_year_file(good).holiday_names[date(2027, 1, 1)] == "元旦"
    with pytest.raises(CalendarDataError, match="also listed under 元旦"):
        load_year_file(bad)


def test_the_documented_example_is_a_file_park_calendar_load_accepts():
    text = (ROOT / "docs" / "business-calendar.md").read_text(encoding="utf-8")
    example = text.split("Example (`deploy/calendar/2027.yaml`", 1)[1]
    block = example.split("```yaml\n", 1)[1].split("```", 1)[0]

    data = validate_year_text(block, "docs/business-calendar.md")

    assert data.year == 2027 and data.holiday_names[date(2027, 2, 6)] == "春节"
