"""Time comes from an injected clock so tests can control it.

Every process of the system reads "now" through :func:`utcnow` (passed as the default
``clock`` of units of work, publishers and the firm client). With ``PARK_CLOCK_FILE`` set
in its environment, a process reads the time from that file instead of the system clock:
``make demo`` uses it to let a month in the park pass in minutes, moving one file that its
four services, the CLI and the firm clients all read. The file holds one ISO 8601 UTC time
(``2026-11-02T01:00:00Z``); a missing, empty or malformed file is an error naming the file,
never a silent fall-back to the real time. Never set it in production.
"""

import os
import re
from datetime import UTC, datetime
from pathlib import Path

CLOCK_FILE_VARIABLE = "PARK_CLOCK_FILE"
_UTC_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?Z")


class ClockFileError(RuntimeError):
    """``PARK_CLOCK_FILE`` names a file that does not hold a UTC time."""


class FileClock:
    """The time written in ``path``, re-read when the file changes (inode, mtime, size)."""

    def __init__(self, path: Path):
        self.path = path
        self._stamp: tuple[int, int, int] | None = None
        self._now: datetime | None = None

    def __call__(self) -> datetime:
        try:
            status = self.path.stat()
            stamp = (status.st_ino, status.st_mtime_ns, status.st_size)
            if stamp != self._stamp:
                self._now = parse_utc(self.path.read_text(encoding="ascii").strip())
                self._stamp = stamp
        except (OSError, UnicodeDecodeError, ValueError) as error:
            raise ClockFileError(f"{CLOCK_FILE_VARIABLE}={self.path}: {error}") from None
        return self._now

    def set(self, now: datetime) -> None:
        """Move the clock (the demo's side): written whole, then renamed into place."""
        if now.tzinfo is None:
            raise ValueError("the clock holds an aware UTC time")
        text = now.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
        partial = self.path.with_name(self.path.name + ".partial")
        partial.write_text(text + "\n", encoding="ascii")
        os.replace(partial, self.path)


def parse_utc(text: str) -> datetime:
    if not _UTC_TIME.fullmatch(text):
        raise ValueError(f"{text[:40]!r} is not a UTC time like 2026-11-02T01:00:00Z")
    return datetime.fromisoformat(text[:-1]).replace(tzinfo=UTC)


_FILE = os.environ.get(CLOCK_FILE_VARIABLE)
_FILE_CLOCK = FileClock(Path(_FILE)) if _FILE else None


def utcnow() -> datetime:
    """Now, aware UTC: the system clock, or the file of ``PARK_CLOCK_FILE`` when set."""
    if _FILE_CLOCK is not None:
        return _FILE_CLOCK()
    return datetime.now(UTC)


def as_utc(instant: datetime) -> datetime:
    """A time read back from the database: SQLite forgets the zone, but we only store UTC."""
    return instant if instant.tzinfo else instant.replace(tzinfo=UTC)
