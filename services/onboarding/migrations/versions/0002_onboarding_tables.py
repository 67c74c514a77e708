"""Parks, units, applications, enterprises, service visits and history.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "parks",
        sa.Column("park_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("definition", sa.Text, nullable=False),
        sa.Column("source", sa.String(500), nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "units",
        sa.Column("park_id", sa.String(64), primary_key=True),
        sa.Column("unit_id", sa.String(32), primary_key=True),
        sa.Column("building", sa.String(16), nullable=False),
        sa.Column("floor", sa.Integer, nullable=True),
        sa.Column("room", sa.Integer, nullable=True),
        sa.Column("area_m2", sa.Integer, nullable=False),
        sa.Column("purchase_price_per_m2_fen", sa.BigInteger, nullable=False),
        sa.Column("monthly_rent_per_m2_fen", sa.BigInteger, nullable=False),
        sa.Column("property_fee_per_m2_fen", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reserved_for", sa.String(36), nullable=True),
        sa.Column("holder", sa.String(36), nullable=True),
        sa.Column("contract_id", sa.String(36), nullable=True),
    )
    op.create_index("ix_units_park_status", "units", ["park_id", "status"])
    op.create_index("ix_units_holder", "units", ["holder"])
    op.create_table(
        "applications",
        sa.Column("application_id", sa.String(36), primary_key=True),
        sa.Column("park_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("enterprise_id", sa.String(36), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_deadline_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("correlation_id", sa.String(36), nullable=True),
        sa.Column("document", sa.JSON, nullable=False),
    )
    op.create_index("ix_applications_next_deadline", "applications", ["next_deadline_at"])
    op.create_table(
        "enterprises",
        sa.Column("enterprise_id", sa.String(36), primary_key=True),
        sa.Column("park_id", sa.String(64), nullable=False),
        sa.Column("application_id", sa.String(36), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("uscc", sa.String(18), nullable=False),
        sa.Column("industry_code", sa.String(8), nullable=False),
        sa.Column("supply_chain_partner", sa.Boolean, nullable=False),
        sa.Column("environmental_review_required", sa.Boolean, nullable=False),
        sa.Column("chief_service_officer", sa.String(64), nullable=False),
        sa.Column("admitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("production_started_on", sa.Date, nullable=True),
        sa.Column("active", sa.Boolean, nullable=False),
    )
    op.create_index(
        "ix_enterprises_officer", "enterprises", ["park_id", "chief_service_officer", "active"]
    )
    op.create_table(
        "service_visits",
        sa.Column("visit_id", sa.String(64), primary_key=True),
        sa.Column("enterprise_id", sa.String(36), nullable=False),
        sa.Column("officer_id", sa.String(64), nullable=False),
        sa.Column("visited_on", sa.Date, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
    )
    op.create_index("ix_service_visits_enterprise_id", "service_visits", ["enterprise_id"])
    op.create_table(
        "history",
        sa.Column("id", _BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("application_id", sa.String(36), nullable=True),
        sa.Column("enterprise_id", sa.String(36), nullable=True),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
    )
    op.create_index("ix_history_application_id", "history", ["application_id"])
    op.create_index("ix_history_enterprise_id", "history", ["enterprise_id"])


def downgrade() -> None:
    for table in ("history", "service_visits", "enterprises", "applications", "units", "parks"):
        op.drop_table(table)
