"""The outbox's quarantine columns: failures, last_error, quarantined_at.

Revision ID: 0003_outbox_quarantine
Revises: 0002
"""

from alembic import op

from shared.messaging.tables import add_outbox_quarantine, drop_outbox_quarantine

# A revision id of its own: onboarding's own 0003 may be added beside this one, and then
# the two are chained, not numbered alike.
revision = "0003_outbox_quarantine"
down_revision = "0002"


def upgrade() -> None:
    add_outbox_quarantine(op)


def downgrade() -> None:
    drop_outbox_quarantine(op)
