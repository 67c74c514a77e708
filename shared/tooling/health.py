"""What an operator asks a running service first: is it relaying its events?"""

from sqlalchemy import func, select

from shared.clock import as_utc
from shared.contract.fields import utc_iso
from shared.messaging.outbox import quarantined
from shared.messaging.unit_of_work import UnitOfWork

QUARANTINE_SHOWN = 20  # the first ones; `park outbox list` shows them all


def health_report(uow: UnitOfWork) -> dict:
    """The service name, its outbox backlog (unsent rows the relay is still trying, and
    the age of the oldest), and the rows the relay quarantined (kept, not retried until
    an operator releases them with ``park outbox release``)."""
    outbox = uow.tables.outbox
    with uow:
        backlog, oldest = uow.session.execute(
            select(func.count(), func.min(outbox.c.created_at)).where(
                outbox.c.sent_at.is_(None), outbox.c.quarantined_at.is_(None)
            )
        ).one()
        held = uow.session.execute(
            select(func.count()).where(
                outbox.c.sent_at.is_(None), outbox.c.quarantined_at.is_not(None)
            )
        ).scalar_one()
        shown = quarantined(uow.session.connection(), outbox, limit=QUARANTINE_SHOWN)
    return {
        "service": uow.source,
        "outbox_unsent": backlog,
        "oldest_unsent_at": utc_iso(as_utc(oldest)) if oldest else None,
        "outbox_quarantined": held,
        "quarantined": [
            {
                "id": row.id,
                "event_id": row.event_id,
                "type": row.event_type,
                "exchange": row.exchange,
                "failures": row.failures,
                "last_error": row.last_error,
                "quarantined_at": utc_iso(as_utc(row.quarantined_at)),
            }
            for row in shown
        ],
    }
