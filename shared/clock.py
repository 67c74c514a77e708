"""Time comes from an injected clock so tests can control it."""

from datetime import UTC, datetime


def utcnow() -> datetime:
    """The system clock, aware UTC."""
    return datetime.now(UTC)


def as_utc(instant: datetime) -> datetime:
    """A time read back from the database: SQLite forgets the zone, but we only store UTC."""
    return instant if instant.tzinfo else instant.replace(tzinfo=UTC)
