"""Ticketing's policy for one park (一园一策): the park file's ``ticketing:`` section.

The park file (``deploy/parks/*.yaml``) is split by :mod:`shared.park_file`; this module
alone validates and reads its ``ticketing:`` section. Every key is optional, and a park
file without the section gets the defaults. The format::

    ticketing:
      business_hours: ["09:00-12:00", "13:00-18:00"]  # local (Asia/Shanghai) windows of a
                                   # working day: HH:MM-HH:MM, rising, not overlapping
      close_after_business_days: 3 # a resolved ticket nobody rates closes after this
                                   # many business days (1..30)
      sla_warning_ratio: 0.8       # sla_warning when this share of an SLA has run
                                   # (a decimal strictly between 0 and 1, ≤ 3 places)

Which days are working days (holidays, 调休 make-up days) comes from the shared business
calendar; this section says only which hours of them count. Problems are collected and
name file, line and field, as in the rest of the park file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time
from pathlib import Path

import yaml

from shared.park_file import read_service_section
from shared.yaml_nodes import NodeReader, YamlFileError, compose

__all__ = [
    "DEFAULT_BUSINESS_HOURS",
    "MAX_CLOSE_AFTER_BUSINESS_DAYS",
    "SECTION",
    "TicketingPolicy",
    "TicketingPolicyError",
    "load_ticketing_policies",
    "load_ticketing_policy",
    "parse_ticketing_policy",
]

SECTION = "ticketing"  # this service's section of the park file (shared.park_file)
#: The shared calendar's default: 09:00-12:00 and 13:00-18:00, 8 business hours a day.
DEFAULT_BUSINESS_HOURS: tuple[tuple[time, time], ...] = (
    (time(9, 0), time(12, 0)),
    (time(13, 0), time(18, 0)),
)
MAX_CLOSE_AFTER_BUSINESS_DAYS = 30
_KEYS = ("business_hours", "close_after_business_days", "sla_warning_ratio")
_WINDOW = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])-([01][0-9]|2[0-3]):([0-5][0-9])")
_RATIO = re.compile(r"0\.[0-9]{1,3}")


@dataclass(frozen=True)
class TicketingPolicy:
    """How one park runs its tickets: business hours, auto-close delay, SLA warning point.

    ``business_hours`` has the shape ``shared.business_calendar.BusinessCalendar`` takes
    as ``working_hours``.
    """

    park_id: str
    business_hours: tuple[tuple[time, time], ...] = DEFAULT_BUSINESS_HOURS
    close_after_business_days: int = 3
    sla_warning_ratio: float = 0.8

    def __post_init__(self) -> None:
        problem = _windows_problem(self.business_hours)
        if problem:
            raise ValueError(problem)
        days = self.close_after_business_days
        if type(days) is not int or not 1 <= days <= MAX_CLOSE_AFTER_BUSINESS_DAYS:
            raise ValueError(f"close_after_business_days must be in 1..30, not {days!r}")
        if not 0 < self.sla_warning_ratio < 1:
            raise ValueError(f"sla_warning_ratio must be in (0, 1), not {self.sla_warning_ratio}")

    @property
    def business_hours_per_day(self) -> float:
        minutes = sum(
            (end.hour * 60 + end.minute) - (start.hour * 60 + start.minute)
            for start, end in self.business_hours
        )
        return minutes / 60


def _windows_problem(windows: tuple[tuple[time, time], ...]) -> str | None:
    if not windows:
        return "business_hours needs at least one window"
    previous_end: time | None = None
    for start, end in windows:
        if start >= end:
            return f"{start:%H:%M}-{end:%H:%M} does not end after it starts"
        if previous_end is not None and start < previous_end:
            return f"{start:%H:%M}-{end:%H:%M} overlaps the window before it or comes before it"
        previous_end = end
    return None


class TicketingPolicyError(YamlFileError):
    """A park file's ``ticketing:`` section is invalid; ``problems`` lists every fault."""


def load_ticketing_policy(path: str | Path) -> TicketingPolicy:
    """The ticketing policy of the park file at ``path``."""
    path = Path(path)
    return parse_ticketing_policy(path.read_text(encoding="utf-8"), source=str(path))


def load_ticketing_policies(directory: str | Path) -> dict[str, TicketingPolicy]:
    """The ticketing policy of every ``*.yaml`` park file in ``directory``, by park id.

    Raises ``ValueError`` listing the faults of every bad file together; so is a
    directory without park files, and a park id defined twice.
    """
    paths = sorted(Path(directory).glob("*.yaml"))
    if not paths:
        raise ValueError(f"{directory}: no park files (*.yaml) there")
    policies: dict[str, TicketingPolicy] = {}
    sources: dict[str, Path] = {}
    errors: list[str] = []
    for path in paths:
        try:
            policy = load_ticketing_policy(path)
        except TicketingPolicyError as error:
            errors.append(str(error))
            continue
        if policy.park_id in policies:
            first = sources[policy.park_id]
            errors.append(f"{path}: park id {policy.park_id!r} is already defined in {first}")
        else:
            policies[policy.park_id], sources[policy.park_id] = policy, path
    if errors:
        raise ValueError("\n".join(errors))
    return policies


def parse_ticketing_policy(text: str, source: str = "<park file>") -> TicketingPolicy:
    """Validate the ``ticketing:`` section (and the park id) of a park file's ``text``.

    The rest of the park file belongs to others (onboarding validates the park's
    description); only the structure ``shared.park_file`` checks is checked here.
    """
    reader = _PolicyReader()
    policy = reader.policy(compose(text, source, TicketingPolicyError))
    if reader.problems or policy is None:
        raise TicketingPolicyError(source, reader.problems)
    return policy


class _PolicyReader(NodeReader):
    def policy(self, root: yaml.Node) -> TicketingPolicy | None:
        found = read_service_section(self, root, SECTION)
        if found is None:
            return None
        park_id, section = found.park_id, found.node
        if section is None:
            return None if self.problems else TicketingPolicy(park_id)
        keys = self.mapping(section, SECTION, [], _KEYS)
        if keys is None:
            return None
        settings: dict[str, object] = {}
        if "business_hours" in keys:
            settings["business_hours"] = self.windows(keys["business_hours"])
        if "close_after_business_days" in keys:
            settings["close_after_business_days"] = self.integer(
                keys["close_after_business_days"],
                f"{SECTION}.close_after_business_days",
                1,
                MAX_CLOSE_AFTER_BUSINESS_DAYS,
            )
        if "sla_warning_ratio" in keys:
            settings["sla_warning_ratio"] = self.ratio(keys["sla_warning_ratio"])
        if self.problems:
            return None
        return TicketingPolicy(park_id, **settings)

    def windows(self, node: yaml.Node) -> tuple[tuple[time, time], ...] | None:
        field = f"{SECTION}.business_hours"
        before = len(self.problems)
        windows: list[tuple[time, time]] = []
        for index, (item, text) in enumerate(self.strings(node, field, min_items=1)):
            match = _WINDOW.fullmatch(text)
            if not match:
                self.problem(
                    item, f"{field}[{index}]", f"{text!r} is not a window like 09:00-12:00"
                )
                continue
            start = time(int(match[1]), int(match[2]))
            end = time(int(match[3]), int(match[4]))
            problem = _windows_problem((*windows[-1:], (start, end)))
            if problem:
                self.problem(item, f"{field}[{index}]", problem)
            windows.append((start, end))
        return None if self.faults_since(before) else tuple(windows)

    def ratio(self, node: yaml.Node) -> float | None:
        field = f"{SECTION}.sla_warning_ratio"
        is_decimal = (
            isinstance(node, yaml.ScalarNode)
            and node.tag == "tag:yaml.org,2002:float"
            and _RATIO.fullmatch(node.value)
        )
        if not is_decimal or float(node.value) == 0:
            shown = node.value if isinstance(node, yaml.ScalarNode) else "a list or mapping"
            self.problem(node, field, f"must be a decimal between 0 and 1 like 0.8, not {shown!r}")
            return None
        return float(node.value)
