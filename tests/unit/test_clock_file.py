"""``PARK_CLOCK_FILE``: a process reads the time from a file the demo moves."""

import os
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.clock import ClockFileError, FileClock, parse_utc


def test_the_file_clock_follows_the_file(tmp_path):
    clock = FileClock(tmp_path / "clock")
    clock.set(datetime(2026, 11, 2, 1, 0, tzinfo=UTC))
    assert clock() == datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
    clock.set(datetime(2026, 12, 31, 23, 59, 59, 5, tzinfo=UTC))
    assert clock() == datetime(2026, 12, 31, 23, 59, 59, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    "content",
    [
        "",
        "2026-11-02",
        "2026-11-02T01:00:00",
        "2026-11-02T01:00:00+08:00",
        "２０２６-11-02T01:00:00Z",
    ],
)
def test_a_file_without_a_utc_time_is_an_error_naming_it(tmp_path, content):
    path = tmp_path / "clock"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ClockFileError, match=r"PARK_CLOCK_FILE=.*clock"):
        FileClock(path)()


def test_a_missing_file_is_an_error_not_the_real_time(tmp_path):
    with pytest.raises(ClockFileError):
        FileClock(tmp_path / "absent")()


@given(st.datetimes(timezones=st.just(UTC)))
def test_what_set_writes_reads_back(tmp_path_factory, instant):
    clock = FileClock(tmp_path_factory.mktemp("clock") / "clock")
    clock.set(instant)
    assert clock() == instant
    assert parse_utc(clock.path.read_text(encoding="ascii").strip()) == instant


def test_a_process_with_the_variable_set_reads_its_time_from_the_file(tmp_path):
    path = tmp_path / "clock"
    FileClock(path).set(datetime(2031, 2, 28, 16, 0, tzinfo=UTC))
    shown = subprocess.run(
        [sys.executable, "-c", "from shared.clock import utcnow; print(utcnow().isoformat())"],
        env={**os.environ, "PARK_CLOCK_FILE": str(path)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert shown == "2031-02-28T16:00:00+00:00"
