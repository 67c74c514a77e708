"""What an operator asks a running service first: is it relaying its events?"""

from sqlalchemy import func, select

from shared.clock import as_utc
from shared.contract.fields import utc_iso
from shared.messaging.unit_of_work import UnitOfWork


def health_report(uow: UnitOfWork) -> dict:
    """The service name, its unsent outbox backlog and the age of the oldest unsent row."""
    outbox = uow.tables.outbox
    with uow:
        backlog, oldest = uow.session.execute(
            select(func.count(), func.min(outbox.c.created_at)).where(outbox.c.sent_at.is_(None))
        ).one()
    return {
        "service": uow.source,
        "outbox_unsent": backlog,
        "oldest_unsent_at": utc_iso(as_utc(oldest)) if oldest else None,
    }
