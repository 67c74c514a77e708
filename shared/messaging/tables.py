"""The inbox and outbox tables every service database holds beside its own.

Each service's ORM metadata gets them from :func:`add_messaging_tables`; each service's
first Alembic migration creates them with :func:`create_messaging_tables`, and a later one
adds the outbox's quarantine columns with :func:`add_outbox_quarantine` (a new service's
first migration calls both, in that order).
"""

from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    text,
)

INBOX = "park_inbox"
OUTBOX = "park_outbox"

# BIGINT on PostgreSQL, but SQLite only auto-increments an "INTEGER PRIMARY KEY".
_BIG_ID = BigInteger().with_variant(Integer(), "sqlite")


@dataclass(frozen=True)
class MessagingTables:
    inbox: Table
    outbox: Table


def _inbox_columns() -> list[Column]:
    return [
        # the consumer is the work queue's name: <service>.<source>.<type>
        Column("consumer", String(200), primary_key=True),
        Column("event_id", String(36), primary_key=True),
        Column("processed_at", DateTime(timezone=True), nullable=False),
    ]


def _outbox_columns() -> list[Column]:
    return [
        Column("id", _BIG_ID, primary_key=True, autoincrement=True),
        Column("event_id", String(36), nullable=False, unique=True),
        Column("exchange", String(200), nullable=False),
        Column("routing_key", String(200), nullable=False),
        Column("event_type", String(100), nullable=False),
        Column("correlation_id", String(36), nullable=False),
        Column("body", LargeBinary, nullable=False),
        Column("headers", Text, nullable=True),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("sent_at", DateTime(timezone=True), nullable=True),
    ]


def _outbox_quarantine_columns() -> list[Column]:
    """Added after the first migrations (which must keep creating the table they did):
    how often the relay failed to publish a row, why, and when it gave up on it."""
    return [
        Column("failures", Integer, nullable=False, server_default=text("0")),
        Column("last_error", Text, nullable=True),
        Column("quarantined_at", DateTime(timezone=True), nullable=True),
    ]


# (table, index name, columns, partial-index condition). The relay reads only unsent
# rows and pruning only sent ones: partial indexes keep both costs independent of how
# much history the table holds.
_INDEXES = [
    (INBOX, "ix_park_inbox_processed_at", ["processed_at"], None),
    (OUTBOX, "ix_park_outbox_unsent", ["id"], "sent_at IS NULL"),
    (OUTBOX, "ix_park_outbox_sent_at", ["sent_at"], "sent_at IS NOT NULL"),
    (OUTBOX, "ix_park_outbox_correlation_id", ["correlation_id"], None),  # `park trace`
]


def _where(condition: str | None) -> dict:
    if condition is None:
        return {}
    return {"postgresql_where": text(condition), "sqlite_where": text(condition)}


def add_messaging_tables(metadata: MetaData) -> MessagingTables:
    inbox = Table(INBOX, metadata, *_inbox_columns())
    outbox = Table(OUTBOX, metadata, *_outbox_columns(), *_outbox_quarantine_columns())
    tables = {INBOX: inbox, OUTBOX: outbox}
    for table, name, columns, condition in _INDEXES:
        Index(name, *(tables[table].c[c] for c in columns), **_where(condition))
    return MessagingTables(inbox=inbox, outbox=outbox)


def create_messaging_tables(op) -> None:
    """For a service's first Alembic migration: ``create_messaging_tables(op)``.

    It creates the tables as the first migrations of the existing services did; columns
    added since come from their own functions (:func:`add_outbox_quarantine`)."""
    op.create_table(INBOX, *_inbox_columns())
    op.create_table(OUTBOX, *_outbox_columns())
    for table, name, columns, condition in _INDEXES:
        op.create_index(name, table, columns, **_where(condition))


def add_outbox_quarantine(op) -> None:
    """For each service's migration after its first: the outbox's quarantine columns."""
    for column in _outbox_quarantine_columns():
        op.add_column(OUTBOX, column)


def drop_outbox_quarantine(op) -> None:
    with op.batch_alter_table(OUTBOX) as batch:  # SQLite drops columns by copying
        for column in reversed(_outbox_quarantine_columns()):
            batch.drop_column(column.name)
