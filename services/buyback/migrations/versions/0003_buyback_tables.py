"""Buyback's own tables: the holdings projection, claims and their steps.

Revision ID: 0003_buyback_tables
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_buyback_tables"
down_revision = "0002"


def upgrade() -> None:
    op.create_table(
        "holdings",
        sa.Column("enterprise_id", sa.Text, primary_key=True),
        sa.Column("park_id", sa.Text, nullable=True),
        sa.Column("state", sa.JSON, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "claims",
        sa.Column("claim_id", sa.String(36), primary_key=True),
        sa.Column("enterprise_id", sa.Text, nullable=False),
        sa.Column("park_id", sa.Text, nullable=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("filed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("state", sa.JSON, nullable=False),
    )
    op.create_index("ix_claims_next_due_at", "claims", ["next_due_at"])
    op.create_index("ix_claims_enterprise_status", "claims", ["enterprise_id", "status"])
    op.create_index("ix_claims_status", "claims", ["status"])
    op.create_table(
        "claim_steps",
        sa.Column("step_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("claim_id", sa.String(36), nullable=False),
        sa.Column("step", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event_id", sa.String(36), nullable=True),
        sa.Column("detail", sa.JSON, nullable=False),
    )
    op.create_index("ix_claim_steps_claim", "claim_steps", ["claim_id", "step_id"])


def downgrade() -> None:
    op.drop_table("claim_steps")
    op.drop_table("claims")
    op.drop_table("holdings")
