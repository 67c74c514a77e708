"""What the service tests of every service share (``services/*/tests/service/conftest.py``):
a clock the test moves, an observer queue that collects a service's events, and the
nameko settings a service container runs with in a test."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from shared.messaging.amqp_client import BrokerAddress

ROOT = Path(__file__).resolve().parents[2]
FRIDAY_MORNING = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)  # a Friday, 10:00 in Zhengzhou


class FakeClock:
    """A clock the test moves: ``clock()`` is now, ``clock.advance(hours=1)`` moves it."""

    def __init__(self, now: datetime = FRIDAY_MORNING):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> None:
        self.now += timedelta(**delta)


def declare_observer(amqp_uri: str, queue: str, exchange: str) -> None:
    """A durable queue bound to every message of ``exchange`` (read with
    :func:`tests.support.broker.get_messages`)."""
    connection = BrokerAddress.from_uri(amqp_uri).connect()
    try:
        channel = connection.channel()
        channel.queue_declare(queue, durable=True, auto_delete=False)
        channel.queue_bind(queue, exchange, "#")
    finally:
        connection.close()


def service_settings(service: str, database_url: str, **extra) -> dict:
    """The nameko config a service container runs with in a test: its database, short
    retry delays, a fast outbox relay, quiet logs, the repository's calendar data."""
    return {
        "DATABASES": {service: database_url},
        "RETRY_DELAYS": [1, 2],
        "OUTBOX": {"poll_interval": 0.2},
        "LOG_LEVEL": "WARNING",
        "CALENDAR_DATA_DIR": str(ROOT / "deploy" / "calendar"),
        **extra,
    }
