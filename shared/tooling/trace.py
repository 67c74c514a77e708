"""Follow one business flow by its correlation id, across every service.

Each service's outbox keeps what it published (sent rows for ``OUTBOX.retention_days``)
with an indexed ``correlation_id``; dead-letter queues keep what failed. Together they
tell what happened to a flow, in order, without a log search.
"""

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import MetaData, select

from shared.clock import as_utc
from shared.db import make_engine
from shared.messaging.tables import add_messaging_tables


@dataclass(frozen=True)
class Step:
    """One event of the flow, as a service published it."""

    at: datetime
    service: str
    type: str
    event_id: str
    causation_id: str | None
    sent: bool


def outbox_steps(service: str, database_url: str, correlation_id: str) -> list[Step]:
    outbox = add_messaging_tables(MetaData()).outbox
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(
                    outbox.c.created_at,
                    outbox.c.event_type,
                    outbox.c.event_id,
                    outbox.c.body,
                    outbox.c.sent_at,
                ).where(outbox.c.correlation_id == correlation_id)
            ).all()
    finally:
        engine.dispose()
    return [
        Step(
            as_utc(row.created_at),
            service,
            row.event_type,
            row.event_id,
            json.loads(row.body).get("causation_id"),
            row.sent_at is not None,
        )
        for row in rows
    ]


def trace(
    databases: Mapping[str, str], correlation_id: str, services: Iterable[str] | None = None
) -> list[Step]:
    """Every step of the flow found in the services' outboxes, oldest first."""
    steps = []
    for service in services or databases:
        steps += outbox_steps(service, databases[service], correlation_id)
    return sorted(steps, key=lambda step: (step.at, step.service))
