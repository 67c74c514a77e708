"""Calendar months and by-day proration of monthly amounts.

A monthly amount (rent, property fee) for a month in which the unit was held only part of
the time is prorated **by calendar day**::

    amount = round_half_up(monthly_fen × days_held / days_in_month)

rounded once, per line. A unit is held from its allocation date (inclusive) to its
release date (exclusive): recurring charges *stop from* the release date (lease end, or a
buyback's ``settled_on``). Worked example: rent of 450,000 fen/month for a unit allocated
on 2026-11-16 (15 of November's 30 days) → 225,000 fen; released on 2026-02-11 → 10 of
February's 28 days → 160,714.28… → 160,714 fen; allocated 2026-03-10 and released
2026-03-20 → 10 of 31 days → 145,161 fen.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from shared.money import require_fen, round_fen

MONTH_PATTERN = re.compile(r"([0-9]{4})-([0-9]{2})")


@dataclass(frozen=True, order=True)
class Month:
    """A calendar month (park-local), e.g. ``Month(2026, 11)``; ``str()`` is ``2026-11``."""

    year: int
    month: int

    def __post_init__(self) -> None:
        if not 1 <= self.month <= 12 or not 1 <= self.year <= 9999:
            raise ValueError(f"no such month: {self.year}-{self.month}")

    @classmethod
    def of(cls, day: date) -> Month:
        return cls(day.year, day.month)

    @classmethod
    def parse(cls, text: str) -> Month:
        """``"2026-11"`` → ``Month(2026, 11)``."""
        match = MONTH_PATTERN.fullmatch(text) if isinstance(text, str) else None
        if match is None:
            raise ValueError(f"a month is YYYY-MM (ASCII digits), not {text!r}")
        return cls(int(match[1]), int(match[2]))

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def days(self) -> int:
        return calendar.monthrange(self.year, self.month)[1]

    @property
    def end(self) -> date:
        """The first day *after* the month (exclusive end)."""
        return self.first_day + timedelta(days=self.days)

    def plus(self, months: int) -> Month:
        index = self.year * 12 + self.month - 1 + months
        return Month(index // 12, index % 12 + 1)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def days_held(month: Month, held_from: date, released_on: date | None) -> int:
    """Days of ``month`` in ``[held_from, released_on)`` (``released_on`` None: still held)."""
    start = max(month.first_day, held_from)
    end = month.end if released_on is None else min(month.end, released_on)
    return max(0, (end - start).days)


def prorate(monthly_fen: int, month: Month, held_from: date, released_on: date | None) -> int:
    """``monthly_fen`` for the days of ``month`` the unit was held, rounded once."""
    days = days_held(month, held_from, released_on)
    if days == month.days:
        return require_fen(monthly_fen)
    return round_fen(Decimal(require_fen(monthly_fen)) * days / month.days)
