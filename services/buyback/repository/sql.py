"""What the SQLAlchemy repositories share."""

from sqlalchemy.orm import Session


def locked(statement, session: Session, *, skip_locked: bool = False):
    """``FOR UPDATE`` (``SKIP LOCKED``) on PostgreSQL; SQLite serialises writes anyway."""
    if session.get_bind().dialect.name == "postgresql":
        return statement.with_for_update(skip_locked=skip_locked)
    return statement
