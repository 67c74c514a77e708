"""Ticketing's own tables: firms, the admitted-enterprise projection, tickets, withdrawn
claims.

Revision ID: 0003_ticketing_tables
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_ticketing_tables"
down_revision = "0002"


def upgrade() -> None:
    op.create_table(
        "firms",
        sa.Column("firm_id", sa.String(40), primary_key=True),
        sa.Column("park_id", sa.String(64), nullable=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("skills", sa.JSON, nullable=False),
        sa.Column("capacity", sa.Integer, nullable=False),
        sa.Column("contact", sa.JSON, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("last_assigned", sa.Integer, nullable=False),
        sa.Column("disabled_reason", sa.Text, nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "enterprises",
        sa.Column("enterprise_id", sa.String(64), primary_key=True),
        sa.Column("park_id", sa.String(64), nullable=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("uscc", sa.String(18), nullable=False),
        sa.Column("legal_representative", sa.String(100), nullable=False),
        sa.Column("contact_phone", sa.String(40), nullable=False),
        sa.Column("chief_service_officer", sa.String(64), nullable=True),
        sa.Column("admitted_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "tickets",
        sa.Column("ticket_id", sa.String(36), primary_key=True),
        sa.Column("origin_key", sa.String(200), nullable=False, unique=True),
        sa.Column("park_id", sa.String(64), nullable=True),
        sa.Column("enterprise_id", sa.String(64), nullable=False),
        sa.Column("service_code", sa.String(16), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("firm_id", sa.String(40), nullable=True),
        sa.Column("claim_id", sa.String(36), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_sla_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("state", sa.JSON, nullable=False),
    )
    op.create_index("ix_tickets_next_sla_due_at", "tickets", ["next_sla_due_at"])
    op.create_index("ix_tickets_status_park", "tickets", ["status", "park_id"])
    op.create_index("ix_tickets_firm_status", "tickets", ["firm_id", "status"])
    op.create_index("ix_tickets_claim", "tickets", ["claim_id"])
    op.create_index("ix_tickets_park_opened", "tickets", ["park_id", "opened_at"])
    op.create_index("ix_tickets_enterprise", "tickets", ["enterprise_id"])
    op.create_table(
        "withdrawn_claims",
        sa.Column("claim_id", sa.String(36), primary_key=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("withdrawn_claims")
    op.drop_table("tickets")
    op.drop_table("enterprises")
    op.drop_table("firms")
