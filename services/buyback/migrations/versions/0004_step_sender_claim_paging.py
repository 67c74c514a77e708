"""The verified sender of each claim step; an index for listing claims newest first.

Revision ID: 0004_step_sender_claim_paging
Revises: 0003_buyback_tables
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_step_sender_claim_paging"
down_revision = "0003_buyback_tables"


def upgrade() -> None:
    op.add_column("claim_steps", sa.Column("sender", sa.Text, nullable=True))
    op.create_index("ix_claims_filed", "claims", ["filed_at", "claim_id"])


def downgrade() -> None:
    op.drop_index("ix_claims_filed", table_name="claims")
    op.drop_column("claim_steps", "sender")
