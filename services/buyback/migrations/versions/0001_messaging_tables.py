"""The inbox and outbox of the messaging core.

Revision ID: 0001
"""

from alembic import op

from shared.messaging.tables import INBOX, OUTBOX, create_messaging_tables

revision = "0001"
down_revision = None


def upgrade() -> None:
    create_messaging_tables(op)


def downgrade() -> None:
    op.drop_table(OUTBOX)
    op.drop_table(INBOX)
