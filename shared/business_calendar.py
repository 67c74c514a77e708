"""Business calendar of the park: working days and working hours in Asia/Shanghai.

Working days come, in order of precedence, from:

1. operator-supplied year files (see :func:`load_year_file`), which replace the
   package data for their year so a late correction by the State Council can be
   applied without a release;
2. the ``chinese_calendar`` package (official holidays and 调休 make-up workdays);
3. a Monday-Friday fallback, with a structlog warning (once per year per calendar)
   and the ``park_calendar_fallback_total{year=...}`` counter, so that a missing
   year degrades deadlines instead of crashing the services that compute them.

All instants taken by this module must be timezone-aware; all instants returned are
aware UTC. The full rules (day deadlines end at 24:00 local time, working-hour
windows, file format) are in ``docs/business-calendar.md``.
"""

from __future__ import annotations

import functools
import json
import operator
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import MAXYEAR, MINYEAR, UTC, date, datetime, time, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

import chinese_calendar
import structlog
import yaml
from prometheus_client import REGISTRY, Counter

__all__ = [
    "DEFAULT_WORKING_HOURS",
    "SHANGHAI",
    "BusinessCalendar",
    "CalendarDataError",
    "YearData",
    "load_year_directory",
    "load_year_file",
]

SHANGHAI = ZoneInfo("Asia/Shanghai")

#: 09:00-12:00 and 13:00-18:00 local time: 8 business hours per working day.
DEFAULT_WORKING_HOURS: tuple[tuple[time, time], ...] = (
    (time(9, 0), time(12, 0)),
    (time(13, 0), time(18, 0)),
)

DATA_FILE_SUFFIXES = (".yaml", ".yml", ".json")

_FALLBACK_METRIC = "park_calendar_fallback_total"

_log = structlog.get_logger(__name__)


def _fallback_counter() -> Counter:
    # Executing this module a second time (importlib.reload, or the same file imported
    # under two names) would register the metric again and prometheus_client would
    # raise "Duplicated timeseries"; reuse the collector that is already registered.
    try:
        return Counter(
            _FALLBACK_METRIC,
            "Working-day lookups answered by the Monday-Friday fallback "
            "because no holiday data exists for the year.",
            ["year"],
        )
    except ValueError:
        return REGISTRY._names_to_collectors[_FALLBACK_METRIC]


_FALLBACK_LOOKUPS = _fallback_counter()


class CalendarDataError(ValueError):
    """An operator data file (or in-memory :class:`YearData`) is invalid.

    ``source`` names the file; the message always starts with it so that the
    operator knows which file to fix.
    """

    def __init__(self, source: str, problem: str) -> None:
        super().__init__(f"{source}: {problem}")
        self.source = source
        self.problem = problem


@dataclass(frozen=True)
class YearData:
    """Official holidays and 调休 make-up workdays of one year.

    ``holidays`` are days off (weekend days may be listed, they change nothing);
    ``workdays`` are weekend days that are working days. Every other day follows
    the Monday-Friday rule. ``source`` is used in error messages. ``holiday_names``
    maps holidays to the festival they belong to (春节, 国庆节), where the file named
    them; it is for people (``park calendar show``) and changes no working day.
    """

    year: int
    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()
    source: str = "<in-memory>"
    holiday_names: Mapping[date, str] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        # Accept any iterable of dates from callers, but keep the instance hashable.
        object.__setattr__(self, "holidays", frozenset(self.holidays))
        object.__setattr__(self, "workdays", frozenset(self.workdays))
        object.__setattr__(self, "holiday_names", MappingProxyType(dict(self.holiday_names)))
        unnamed = set(self.holiday_names) - self.holidays
        if unnamed:
            raise CalendarDataError(
                self.source, f"holiday_names: {min(unnamed).isoformat()} is not a holiday"
            )
        for kind, days in (("holidays", self.holidays), ("workdays", self.workdays)):
            for day in days:
                self._check_day(kind, day)
        both = self.holidays & self.workdays
        if both:
            raise CalendarDataError(
                self.source,
                f"{min(both).isoformat()} is listed both in holidays and in workdays",
            )

    def _check_day(self, kind: str, day: date) -> None:
        if isinstance(day, datetime) or not isinstance(day, date):
            raise CalendarDataError(self.source, f"{kind}: {day!r} is not a date")
        if day.year != self.year:
            raise CalendarDataError(
                self.source, f"{kind}: {day.isoformat()} is not in year {self.year}"
            )
        if kind == "workdays" and day.weekday() < 5:
            raise CalendarDataError(
                self.source,
                f"workdays: {day.isoformat()} is a {day:%A}; workdays lists only "
                "weekend days that are working days (调休)",
            )

    def is_working_day(self, day: date) -> bool:
        """Whether ``day`` (which must lie in this year) is a working day."""
        if day in self.workdays:
            return True
        return day.weekday() < 5 and day not in self.holidays


# ---------------------------------------------------------------------------
# Operator data files
# ---------------------------------------------------------------------------

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_REQUIRED_KEYS = ("year", "holidays", "workdays")


class _StringDateLoader(yaml.SafeLoader):
    """SafeLoader that leaves dates as strings.

    YAML would silently accept non-ISO spellings such as ``2027-1-1``; keeping the
    raw text lets YAML and JSON files go through the same strict ISO check.
    """


_StringDateLoader.yaml_implicit_resolvers = {
    first_char: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first_char, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_year_file(path: str | os.PathLike[str]) -> YearData:
    """Load and validate one operator year file (``.yaml``/``.yml``/``.json``).

    Raises :class:`CalendarDataError` naming the file and the offending entry.
    """
    path = Path(path)
    document = _read_document(path)
    return _parse_year_document(document, source=str(path))


def load_year_directory(directory: str | os.PathLike[str]) -> dict[int, YearData]:
    """Load every ``*.yaml``/``*.yml``/``*.json`` file in ``directory`` (not recursive).

    Other files (e.g. a README) are ignored. Two files for the same year are an
    error, since it would be unclear which one wins.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise CalendarDataError(str(directory), "calendar data directory does not exist")
    years: dict[int, YearData] = {}
    for path in sorted(directory.iterdir()):
        if path.suffix.lower() not in DATA_FILE_SUFFIXES or not path.is_file():
            continue
        data = load_year_file(path)
        if data.year in years:
            raise CalendarDataError(
                str(path), f"year {data.year} is already defined in {years[data.year].source}"
            )
        years[data.year] = data
        _log.info("business_calendar.year_loaded", year=data.year, source=data.source)
    return years


def _read_document(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CalendarDataError(str(path), f"cannot read file: {exc}") from exc
    try:
        if path.suffix.lower() == ".json":
            return json.loads(text)
        return yaml.load(text, Loader=_StringDateLoader)  # a SafeLoader subclass
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise CalendarDataError(str(path), f"cannot parse file: {exc}") from exc


def _parse_year_document(document: Any, source: str) -> YearData:
    if not isinstance(document, dict):
        raise CalendarDataError(
            source, "expected a mapping with the keys year, holidays and workdays"
        )
    unknown = sorted(str(key) for key in document if key not in _REQUIRED_KEYS)
    if unknown:
        raise CalendarDataError(source, f"unknown key(s): {', '.join(unknown)}")
    missing = [key for key in _REQUIRED_KEYS if key not in document]
    if missing:
        raise CalendarDataError(source, f"missing key(s): {', '.join(missing)}")
    year = document["year"]
    if isinstance(year, bool) or not isinstance(year, int) or not MINYEAR <= year <= MAXYEAR:
        raise CalendarDataError(source, f"year: {year!r} is not a year number")
    holidays, names = _parse_holidays(document["holidays"], source)
    return YearData(
        year=year,
        holidays=holidays,
        workdays=_parse_dates(document["workdays"], "workdays", source),
        source=source,
        holiday_names=names,
    )


def _parse_holidays(entries: Any, source: str) -> tuple[frozenset[date], dict[date, str]]:
    """``holidays``: a list of dates, or a mapping of each festival's name to its dates
    (``春节: [2027-02-06, …]``), which ``park calendar load`` requires."""
    if not isinstance(entries, dict):
        return _parse_dates(entries, "holidays", source), {}
    names: dict[date, str] = {}
    for name, dates in entries.items():
        if not isinstance(name, str) or not name.strip():
            raise CalendarDataError(source, f"holidays: {name!r} is not a holiday name")
        for day in _parse_dates(dates, f"holidays.{name}", source):
            if day in names:
                raise CalendarDataError(
                    source, f"holidays.{name}: {day.isoformat()} is also listed under {names[day]}"
                )
            names[day] = name
    return frozenset(names), names


def _parse_dates(entries: Any, key: str, source: str) -> frozenset[date]:
    if entries is None:  # a YAML key with nothing after it means "none"
        return frozenset()
    if not isinstance(entries, list):
        raise CalendarDataError(source, f"{key}: expected a list of dates, got {entries!r}")
    days: set[date] = set()
    for entry in entries:
        day = _parse_iso_date(entry, key, source)
        if day in days:
            raise CalendarDataError(source, f"{key}: {entry} is listed twice")
        days.add(day)
    return frozenset(days)


def _parse_iso_date(entry: Any, key: str, source: str) -> date:
    if not isinstance(entry, str) or not _ISO_DATE.fullmatch(entry):
        raise CalendarDataError(source, f"{key}: {entry!r} is not an ISO date (YYYY-MM-DD)")
    try:
        return date.fromisoformat(entry)
    except ValueError as exc:
        raise CalendarDataError(source, f"{key}: {entry!r} is not a valid date") from exc


# ---------------------------------------------------------------------------
# The calendar
# ---------------------------------------------------------------------------


class BusinessCalendar:
    """Working days, day deadlines and working-hour arithmetic in Asia/Shanghai.

    ``working_hours`` are the local-time windows of a working day, sorted and
    non-overlapping, as ``(start, end)`` pairs of naive :class:`datetime.time`.
    ``extra_years`` maps a year to operator data that replaces the package data
    for that year.
    """

    def __init__(
        self,
        working_hours: Sequence[tuple[time, time]] = DEFAULT_WORKING_HOURS,
        extra_years: Mapping[int, YearData] | None = None,
    ) -> None:
        self._windows = _validated_windows(working_hours)
        self._years = dict(extra_years or {})
        for year, data in self._years.items():
            if year != data.year:
                raise ValueError(f"extra_years[{year}] holds data for year {data.year}")
        self._warned_years: set[int] = set()

    @classmethod
    def from_directory(
        cls,
        directory: str | os.PathLike[str],
        working_hours: Sequence[tuple[time, time]] = DEFAULT_WORKING_HOURS,
    ) -> BusinessCalendar:
        """Build a calendar with the operator year files found in ``directory``."""
        return cls(working_hours=working_hours, extra_years=load_year_directory(directory))

    @property
    def working_hours(self) -> tuple[tuple[time, time], ...]:
        """The local-time working windows of a working day."""
        return self._windows

    def has_official_data(self, year: int) -> bool:
        """Whether ``year`` has holiday data (operator file or package), i.e. no fallback."""
        return year in self._years or _package_covers(year)

    def is_working_day(self, day: date | datetime) -> bool:
        """Whether ``day`` is a working day.

        A :class:`datetime` must be timezone-aware and is taken at its Asia/Shanghai
        local date. Never raises for a missing year: see the module docstring.
        """
        if isinstance(day, datetime):
            day = _local_date(_as_utc(day, "day"))
        year_data = self._years.get(day.year)
        if year_data is not None:
            return year_data.is_working_day(day)
        try:
            return chinese_calendar.is_workday(day)
        except NotImplementedError:
            return self._fallback_is_working_day(day)

    def add_business_days(self, instant: datetime, days: int) -> datetime:
        """Deadline ``days`` business days after ``instant``, as aware UTC.

        The day of ``instant`` (its Asia/Shanghai date) never counts, working day or
        not; the deadline is 24:00 local time at the end of the ``days``-th working
        day after it, i.e. 00:00 local of the next calendar day (16:00 UTC).
        ``days`` must be at least 1.
        """
        remaining = operator.index(days)
        if remaining < 1:
            raise ValueError(f"days must be at least 1, got {days}")
        day = _local_date(_as_utc(instant, "instant"))
        while remaining:
            day += timedelta(days=1)
            if self.is_working_day(day):
                remaining -= 1
        return _utc_at(day + timedelta(days=1), time(0, 0))

    def add_business_hours(self, instant: datetime, hours: float | timedelta) -> datetime:
        """The instant at which ``hours`` of working time after ``instant`` have elapsed.

        Only time inside the working windows of working days counts, so the clock
        stops over lunch, nights, weekends and holidays. A result that falls exactly
        on the end of a window is that end, not the start of the next window. Zero
        hours returns ``instant`` itself. Returns aware UTC.
        """
        remaining = _as_duration(hours)
        start = _as_utc(instant, "instant")
        if not remaining:
            return start
        day = _local_date(start)
        while True:
            for window_start, window_end in self._windows_on(day):
                begin = max(start, window_start)
                if begin >= window_end:
                    continue
                if remaining <= window_end - begin:
                    return begin + remaining
                remaining -= window_end - begin
            day += timedelta(days=1)

    def business_time_between(self, start: datetime, end: datetime) -> timedelta:
        """Working time between two instants; zero when ``end <= start``.

        Inverse of :meth:`add_business_hours`:
        ``business_time_between(t, add_business_hours(t, h)) == h``.
        """
        start_utc, end_utc = _as_utc(start, "start"), _as_utc(end, "end")
        total = timedelta(0)
        if end_utc <= start_utc:
            return total
        day, last_day = _local_date(start_utc), _local_date(end_utc)
        while day <= last_day:
            for window_start, window_end in self._windows_on(day):
                overlap = min(end_utc, window_end) - max(start_utc, window_start)
                total += max(overlap, timedelta(0))
            day += timedelta(days=1)
        return total

    def _windows_on(self, day: date) -> Iterator[tuple[datetime, datetime]]:
        # UTC bounds, so that durations are real elapsed time whatever the zone rules.
        if not self.is_working_day(day):
            return
        for start, end in self._windows:
            yield _utc_at(day, start), _utc_at(day, end)

    def _fallback_is_working_day(self, day: date) -> bool:
        _FALLBACK_LOOKUPS.labels(year=str(day.year)).inc()
        # Warn once per year and calendar: deadline loops look up hundreds of days.
        if day.year not in self._warned_years:
            self._warned_years.add(day.year)
            _log.warning(
                "business_calendar.fallback",
                year=day.year,
                detail="no holiday data for this year; treating Monday-Friday as working "
                "days. Add an operator data file to CALENDAR_DATA_DIR.",
            )
        return day.weekday() < 5


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


@functools.cache
def _package_covers(year: int) -> bool:
    # Asking the package is the only public way to learn its range.
    if not MINYEAR <= year <= MAXYEAR:
        return False
    try:
        chinese_calendar.is_workday(date(year, 1, 1))
    except NotImplementedError:
        return False
    return True


def _validated_windows(windows: Iterable[tuple[time, time]]) -> tuple[tuple[time, time], ...]:
    result = tuple((start, end) for start, end in windows)
    # Without any window add_business_hours could never finish.
    if not result:
        raise ValueError("working_hours must contain at least one (start, end) window")
    previous_end: time | None = None
    for start, end in result:
        if start.tzinfo is not None or end.tzinfo is not None:
            raise ValueError(f"working hours are local times and must be naive: {start}-{end}")
        if start >= end:
            raise ValueError(f"working-hour window {start}-{end} does not end after it starts")
        if previous_end is not None and start < previous_end:
            raise ValueError(f"working-hour window {start}-{end} overlaps or is out of order")
        previous_end = end
    return result


def _as_utc(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.utcoffset() is None:
        raise ValueError(
            f"{name} must be a timezone-aware datetime, got naive {value.isoformat()}; "
            "attach a zone (e.g. tzinfo=datetime.UTC) where the value is created"
        )
    return value.astimezone(UTC)


def _as_duration(hours: float | timedelta) -> timedelta:
    duration = hours if isinstance(hours, timedelta) else timedelta(hours=hours)
    if duration < timedelta(0):
        raise ValueError(f"hours must not be negative, got {hours}")
    return duration


def _local_date(instant: datetime) -> date:
    return instant.astimezone(SHANGHAI).date()


def _utc_at(day: date, local_time: time) -> datetime:
    return datetime.combine(day, local_time, tzinfo=SHANGHAI).astimezone(UTC)
