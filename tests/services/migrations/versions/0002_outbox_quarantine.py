"""The outbox's quarantine columns: failures, last_error, quarantined_at.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

from shared.messaging.tables import add_outbox_quarantine, drop_outbox_quarantine

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    add_outbox_quarantine(op)


def downgrade() -> None:
    drop_outbox_quarantine(op)
