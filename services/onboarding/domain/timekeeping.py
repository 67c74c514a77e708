"""Checks on the clock values the domain is given, and the park's local calendar date.

The domain never reads the clock: callers pass ``now``. These helpers make a naive or
non-UTC ``now`` fail loudly at the boundary, because comparing it with stored UTC
deadlines would otherwise be off by eight hours without any error.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

# China has had no daylight saving since 1991, so a fixed offset is exact for dates we
# handle and keeps the domain free of the tz database.
PARK_TIMEZONE = timezone(timedelta(hours=8), "Asia/Shanghai")


def require_utc(moment: datetime, name: str = "now") -> datetime:
    """Return ``moment`` if it is timezone-aware UTC, else raise ``ValueError``."""
    if moment.tzinfo is None or moment.utcoffset() != timedelta(0):
        raise ValueError(f"{name} must be an aware UTC datetime, got {moment!r}")
    return moment


def require_aware(moment: datetime, name: str) -> datetime:
    """Return ``moment`` converted to UTC if it is timezone-aware, else raise ``ValueError``."""
    if moment.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware, got {moment!r}")
    return moment.astimezone(UTC)


def park_date(moment: datetime) -> date:
    """The calendar date in the park (Asia/Shanghai) at the UTC instant ``moment``."""
    return moment.astimezone(PARK_TIMEZONE).date()
