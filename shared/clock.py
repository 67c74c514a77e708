"""Time comes from an injected clock so tests can control it."""

from datetime import UTC, datetime


def utcnow() -> datetime:
    """The system clock, aware UTC."""
    return datetime.now(UTC)
