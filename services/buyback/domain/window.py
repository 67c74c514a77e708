"""The ten-year window: when a claim is in time, on park-local (Asia/Shanghai) dates.

The window runs from the production start date to the day *before* its tenth
anniversary: a claim received on the anniversary itself is too late. A start on
29 February has its anniversary on 28 February when the tenth year is not a leap year
(it never is: 29 February + 10 years is always a common year's 28 February).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

WINDOW_YEARS = 10
# China has kept UTC+8 without daylight saving since 1991: a fixed offset needs no tz data.
PARK_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")


def park_date(instant: datetime) -> date:
    """The Asia/Shanghai calendar date of an aware instant."""
    if instant.tzinfo is None:
        raise ValueError(f"naive datetime {instant!r}: a park date needs an aware time")
    return instant.astimezone(PARK_TZ).date()


def tenth_anniversary(started_on: date) -> date:
    """The tenth anniversary of ``started_on`` (29 February → 28 February)."""
    year = started_on.year + WINDOW_YEARS
    try:
        return started_on.replace(year=year)
    except ValueError:  # 29 February in a common year
        return date(year, 2, 28)


def within_window(started_on: date, received_on: date) -> bool:
    """Whether a claim received on ``received_on`` is inside the ten-year window: on or
    after the production start and strictly before its tenth anniversary."""
    return started_on <= received_on < tenth_anniversary(started_on)


def last_day_of_window(started_on: date) -> date:
    """The last park date on which a claim is still in time."""
    return tenth_anniversary(started_on) - timedelta(days=1)
