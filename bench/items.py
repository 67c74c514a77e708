"""The state row every forwarder with a database writes per event: ``bench_items``.

One definition, so project-pg, nameko-db and faststream-db insert the same row into the
same table (faststream-db spells the INSERT in SQL for asyncpg).
"""

from sqlalchemy import BigInteger, Column, DateTime, Integer, MetaData, String, Table


def items_table(metadata: MetaData) -> Table:
    """``bench_items`` in ``metadata``: a serial key, no unique key on ``item_id``."""
    return Table(
        "bench_items",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("item_id", String(36), nullable=False),
        Column("seq", BigInteger, nullable=False),
        Column("amount_fen", Integer, nullable=False),
        Column("recorded_at", DateTime(timezone=True), nullable=False),
    )
