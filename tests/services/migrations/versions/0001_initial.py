"""Messaging tables and the effects table of the test recorder services.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

from shared.messaging.tables import create_messaging_tables

revision = "0001"
down_revision = None


def upgrade() -> None:
    create_messaging_tables(op)
    op.create_table(
        "effects",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("thing_id", sa.String(36), nullable=False),
        sa.Column("correlation_id", sa.String(36), nullable=False),
        sa.Column("amount_fen", sa.Integer, nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sender", sa.String(100), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("effects")
    op.drop_table("park_outbox")
    op.drop_table("park_inbox")
