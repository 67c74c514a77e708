"""``park calendar load FILE`` / ``park calendar show YEAR``: holiday data for a year the
``chinese_calendar`` package does not know (docs/business-calendar.md).

``load`` checks a year file against every rule, reporting each fault with its line, then
installs it as ``<year>.yaml`` (or ``.json``) in ``CALENDAR_DATA_DIR``, where the services
read it at start-up. ``show`` prints a year's holidays and 调休 working days from
whichever source knows the year, and names the source.

Exit codes: 0 done; 1 refused (the file's faults, each with its line; a year the package
knows without ``--force``; a file already there for the year without ``--force``) or, for
``show``, a year nobody has data for; 2 usage.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from dataclasses import dataclass
from datetime import MAXYEAR, MINYEAR, date, timedelta
from pathlib import Path
from typing import Annotated

import structlog
import structlog.testing
import typer
import yaml
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from shared.business_calendar import (
    DATA_FILE_SUFFIXES,
    BusinessCalendar,
    CalendarDataError,
    YearData,
    load_year_directory,
    load_year_file,
)
from shared.yaml_nodes import NodeReader, YamlFileError, compose

ROOT = Path(__file__).resolve().parents[2]


def _quietly_load_directory(directory: Path) -> dict[int, YearData]:
    """:func:`load_year_directory` without its per-file info log on the operator's screen
    (the CLI says what it loaded itself); errors still raise."""
    with structlog.testing.capture_logs():
        return load_year_directory(directory)


calendar_app = typer.Typer(
    help="Holidays and 调休 workdays for years the calendar package does not know.",
    no_args_is_help=True,
)
console = Console() if sys.stdout.isatty() else Console(width=240)

ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", envvar="PARK_CONFIG", help="nameko config file")
]
DEFAULT_CONFIG = ROOT / "config" / "development.yaml"
DEFAULT_DATA_DIR = "deploy/calendar"
MAX_FILE_BYTES = 256 * 1024  # a year is a few dozen dates; anything bigger is not one

_STR = "tag:yaml.org,2002:str"
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


class CalendarFileError(YamlFileError):
    """A year file ``park calendar load`` refuses; ``problems`` holds each fault by line."""


def package_knows(year: int) -> bool:
    """Whether the ``chinese_calendar`` package has official data for ``year``."""
    return BusinessCalendar().has_official_data(year)


# ---------------------------------------------------------------------------
# Validation, with lines
# ---------------------------------------------------------------------------


def _date(reader: NodeReader, node: yaml.Node, field: str, year: int | None) -> date | None:
    """An ISO date inside ``year``; quoted or not, it is checked as the text written."""
    text = node.value if isinstance(node, yaml.ScalarNode) else None
    if text is None or not _ISO_DATE.fullmatch(text):
        shown = repr(text) if text is not None else "a list or mapping"
        reader.problem(node, field, f"{shown} is not a date written YYYY-MM-DD")
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        reader.problem(node, field, f"{text} is not a real date")
        return None
    if year is not None and day.year != year:
        reader.problem(node, field, f"{text} is not in {year}")
        return None
    return day


def _dates(reader: NodeReader, node: yaml.Node, field: str, year: int | None):
    """(node, date) of each valid entry of a list of dates."""
    found = []
    for index, item in enumerate(reader.sequence(node, field)):
        day = _date(reader, item, f"{field}[{index}]", year)
        if day is not None:
            found.append((item, day))
    return found


def _holiday(
    reader: NodeReader,
    name_node: yaml.Node,
    dates_node: yaml.Node,
    year: int | None,
    holidays: dict[date, tuple[yaml.Node, str]],
    names: set[str],
) -> None:
    """One ``name: [dates]`` entry of ``holidays``, added to ``holidays`` (date → name)."""
    is_text = isinstance(name_node, yaml.ScalarNode) and name_node.tag == _STR
    name = name_node.value if is_text else ""
    if not name.strip():
        reader.problem(name_node, "holidays", "each holiday needs a name (text)")
        return
    field = f"holidays.{name}"
    if name in names:
        reader.problem(name_node, field, "repeated holiday name")
    names.add(name)
    if isinstance(dates_node, yaml.SequenceNode) and not dates_node.value:
        reader.problem(dates_node, field, "lists no date")
    for item, day in _dates(reader, dates_node, field, year):
        if day in holidays:
            reader.problem(item, field, f"{day} is already listed under {holidays[day][1]}")
        else:
            holidays[day] = (item, name)


def validate_year_text(text: str, source: str) -> YearData:
    """Check a year file's text against every rule; raise :class:`CalendarFileError`
    listing each fault with its line, else return the year's data.

    Rules: a mapping of exactly ``year`` (a plain integer), ``holidays`` (each festival's
    name → its dates, at least one) and ``workdays`` (调休 working days, ``[]`` if none);
    every date ``YYYY-MM-DD``, real and inside ``year``; no date twice; no date both a
    holiday and a workday; workdays only Saturdays and Sundays.
    """
    root = compose(text, source, CalendarFileError)
    reader = NodeReader()
    fields = reader.mapping(root, "", required=("year", "holidays", "workdays"))
    if fields is None:
        raise CalendarFileError(source, reader.problems)
    year = None
    if "year" in fields:
        year = reader.integer(fields["year"], "year", MINYEAR, MAXYEAR)
    # A bad year still lets every date be checked for its own form (not for its year).
    holidays: dict[date, tuple[yaml.Node, str]] = {}
    if "holidays" in fields:
        node = fields["holidays"]
        if isinstance(node, yaml.SequenceNode):
            reader.problem(
                node,
                "holidays",
                "name each holiday: a mapping of its name to its dates, e.g. 元旦: [2027-01-01]",
            )
        elif not isinstance(node, yaml.MappingNode) or not node.value:
            reader.problem(node, "holidays", "must map each holiday's name to its dates")
        else:
            names: set[str] = set()
            for name_node, dates_node in node.value:
                _holiday(reader, name_node, dates_node, year, holidays, names)
    workdays: dict[date, yaml.Node] = {}
    if "workdays" in fields:
        node = fields["workdays"]
        is_empty = isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null")
        for item, day in [] if is_empty else _dates(reader, node, "workdays", year):
            if day in workdays:
                reader.problem(item, "workdays", f"{day} is listed twice")
            elif day.weekday() < 5:
                reader.problem(
                    item,
                    "workdays",
                    f"{day} is a {day:%A}: workdays lists only the Saturdays and Sundays "
                    "that are working days (调休)",
                )
            elif day in holidays:
                reader.problem(item, "workdays", f"{day} is also a holiday ({holidays[day][1]})")
            else:
                workdays[day] = item
    if reader.problems or year is None:
        raise CalendarFileError(source, reader.problems)
    return YearData(
        year,
        holidays=frozenset(holidays),
        workdays=frozenset(workdays),
        source=source,
        holiday_names={day: name for day, (_, name) in holidays.items()},
    )


# ---------------------------------------------------------------------------
# Where the services read it
# ---------------------------------------------------------------------------


def data_directory(config: Path, directory: Path | None) -> Path:
    """``--dir``, else the config's ``CALENDAR_DATA_DIR`` (relative to where the command
    runs, as for the services), else ``deploy/calendar``."""
    if directory is not None:
        return directory
    from shared.settings import load_config_file

    configured = load_config_file(config).get("CALENDAR_DATA_DIR") or DEFAULT_DATA_DIR
    return Path(str(configured))


def files_for_year(directory: Path, year: int) -> list[Path]:
    """The data files in ``directory`` that declare ``year`` (read as the services do;
    a file that does not read is not counted here: the final check names it)."""
    found = []
    for path in sorted(directory.iterdir()):
        if path.suffix.lower() in DATA_FILE_SUFFIXES and path.is_file():
            try:
                if load_year_file(path).year == year:
                    found.append(path)
            except CalendarDataError:
                continue
    return found


@dataclass
class Installed:
    path: Path
    replaced: list[Path]


def install(text: str, suffix: str, data: YearData, directory: Path, force: bool) -> Installed:
    """Write ``text`` as ``<year><suffix>`` in ``directory``, replacing (with ``force``)
    the files already there for that year; then read the directory as the services do,
    and put everything back if that fails. Raises :class:`CalendarDataError`."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{data.year}{suffix}"
    existing = files_for_year(directory, data.year)
    if target.exists() and target not in existing:
        existing.append(target)  # unreadable, but ours to overwrite only with --force
    if existing and not force:
        names = ", ".join(str(path) for path in existing)
        raise CalendarDataError(
            str(directory),
            f"{data.year} already has a file here ({names}); --force replaces it",
        )
    saved = {path: path.read_bytes() for path in existing}
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=f".{data.year}-", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        for path in existing:
            path.unlink()
        os.replace(temporary, target)
        _quietly_load_directory(directory)  # what every service does at start-up
    except (OSError, CalendarDataError):
        Path(temporary).unlink(missing_ok=True)
        target.unlink(missing_ok=True)
        for path, content in saved.items():
            path.write_bytes(content)
        raise
    return Installed(target, [path for path in existing if path != target])


# ---------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------


def _fail(message: str) -> None:
    console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)  # one line: grep
    raise typer.Exit(1)


def _read(path: Path) -> str:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            _fail(f"{path}: larger than {MAX_FILE_BYTES // 1024} KiB; not a year file")
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        _fail(f"{path}: cannot read it: {error}")


DirOption = Annotated[
    Path | None,
    typer.Option("--dir", help="the calendar data directory (default: CALENDAR_DATA_DIR)"),
]


@calendar_app.command("load")
def load(
    file: Annotated[Path, typer.Argument(help="a year file, .yaml/.yml/.json")],
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="also for a year the package knows, or that has a file already (replaced)",
        ),
    ] = False,
    directory: DirOption = None,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Check a year's holidays and 调休 workdays, and install them where the services read
    calendar data (CALENDAR_DATA_DIR). Restart the services afterwards."""
    suffix = file.suffix.lower()
    if suffix not in DATA_FILE_SUFFIXES:
        _fail(f"{file}: a year file ends in {', '.join(DATA_FILE_SUFFIXES)}")
    text = _read(file)
    try:
        data = validate_year_text(text, str(file))
    except CalendarFileError as error:
        _report(error.source, error.problems)
    if package_knows(data.year) and not force:
        _fail(
            f"{file}: the chinese_calendar package already knows {data.year}; a file would "
            "replace its data for the whole year. --force if that is what you mean "
            "(a late correction by the State Council)"
        )
    target_dir = data_directory(config, directory)
    try:
        installed = install(
            text, ".json" if suffix == ".json" else ".yaml", data, target_dir, force
        )
    except CalendarDataError as error:
        _fail(str(error))
    except OSError as error:
        _fail(f"cannot install into {target_dir}: {error}")
    for path in installed.replaced:
        console.print(f"replaced {path}")
    console.print(
        f"{data.year}: {len(data.holidays)} holidays, {len(data.workdays)} 调休 workdays, "
        f"installed as {installed.path}. Restart the services to use it."
    )


def _report(source: str, problems) -> None:
    console.print(f"[bold red]error:[/] {escape(source)} is not a valid year file:", soft_wrap=True)
    for problem in problems:
        where = f"{source}:{problem.line}: {problem.field}"
        console.print(f"  {escape(where)}: {escape(problem.message)}", soft_wrap=True)
    raise typer.Exit(1)


@dataclass(frozen=True)
class YearView:
    source: str
    holidays: dict[date, str | None]
    workdays: dict[date, str | None]


def year_view(year: int, directory: Path) -> YearView | None:
    """The year's holidays and 调休 workdays from whichever source knows it, as the
    services would: an operator file first, then the package; None for neither."""
    operator_years = _quietly_load_directory(directory) if directory.is_dir() else {}
    data = operator_years.get(year)
    if data is not None:
        return YearView(
            f"operator file {data.source}",
            {day: data.holiday_names.get(day) for day in sorted(data.holidays)},
            {day: None for day in sorted(data.workdays)},
        )
    if not package_knows(year):
        return None
    import chinese_calendar

    version = getattr(chinese_calendar, "__version__", "")
    days = [date(year, 1, 1) + timedelta(days=n) for n in range(366)]
    days = [day for day in days if day.year == year]
    return YearView(
        f"the chinese_calendar package {version}".rstrip(),
        {day: chinese_calendar.holidays[day] for day in days if day in chinese_calendar.holidays},
        {day: chinese_calendar.workdays[day] for day in days if day in chinese_calendar.workdays},
    )


@calendar_app.command("show")
def show(
    year: Annotated[int, typer.Argument(min=MINYEAR, max=MAXYEAR, help="e.g. 2027")],
    directory: DirOption = None,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Print a year's holidays and 调休 workdays, and which source they come from."""
    target_dir = data_directory(config, directory)
    try:
        view = year_view(year, target_dir)
    except CalendarDataError as error:
        _fail(f"the calendar data directory does not load (the services would not start): {error}")
    if view is None:
        _fail(
            f"no holiday data for {year}: neither a file in {target_dir} nor the "
            "chinese_calendar package knows it, so the services count Monday–Friday as "
            "working days. Add one with: park calendar load FILE"
        )
    console.print(f"{year} from {view.source}")
    table = Table("date", "day", "kind", "holiday")
    rows = [(day, "holiday", name) for day, name in view.holidays.items()]
    rows += [(day, "调休 workday", name) for day, name in view.workdays.items()]
    for day, kind, name in sorted(rows):
        table.add_row(day.isoformat(), _WEEKDAYS[day.weekday()], kind, name or "-")
    console.print(table)
    console.print(f"{len(view.holidays)} holidays, {len(view.workdays)} 调休 workdays")
