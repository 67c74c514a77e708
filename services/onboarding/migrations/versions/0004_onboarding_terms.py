"""Onboarding: columns as wide as the contract, lease terms, review time limit, USCC.

- ``enterprises.name`` and ``applications.park_id`` become unbounded text: the contract
  bounds neither an enterprise name nor an envelope's park id, and PostgreSQL refused
  longer values (``String(200)`` / ``String(64)``) as a "transient" error.
- ``units.lease_ends_on``: the day a leased unit's term ends (the timer ends it then).
- ``applications.review_due_at``: when the joint review is overdue (review time limit).
- ``applications.uscc``: to find an enterprise's other applications; with an index on
  ``enterprises (park_id, uscc)``, so a second application joins the same enterprise.

Revision ID: 0004_onboarding_terms
Revises: 0003_outbox_quarantine
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_onboarding_terms"
down_revision = "0003_outbox_quarantine"


def upgrade() -> None:
    with op.batch_alter_table("enterprises") as table:
        table.alter_column("name", type_=sa.Text(), existing_nullable=False)
    with op.batch_alter_table("applications") as table:
        table.alter_column("park_id", type_=sa.Text(), existing_nullable=False)
        table.add_column(sa.Column("uscc", sa.Text(), nullable=True))
        table.add_column(sa.Column("review_due_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("units") as table:
        table.add_column(sa.Column("lease_ends_on", sa.Date(), nullable=True))
    _backfill_uscc()
    op.create_index("ix_applications_uscc", "applications", ["uscc", "status"])
    op.create_index("ix_enterprises_uscc", "enterprises", ["park_id", "uscc"])
    op.create_index("ix_units_lease_ends_on", "units", ["lease_ends_on"])


def _backfill_uscc() -> None:
    applications = sa.table(
        "applications",
        sa.column("application_id", sa.String),
        sa.column("uscc", sa.Text),
        sa.column("document", sa.JSON),
    )
    connection = op.get_bind()
    rows = connection.execute(sa.select(applications.c.application_id, applications.c.document))
    for application_id, document in rows.all():
        connection.execute(
            applications.update()
            .where(applications.c.application_id == application_id)
            .values(uscc=document["submission"]["enterprise"]["uscc"])
        )


def downgrade() -> None:
    op.drop_index("ix_units_lease_ends_on", "units")
    op.drop_index("ix_enterprises_uscc", "enterprises")
    op.drop_index("ix_applications_uscc", "applications")
    with op.batch_alter_table("units") as table:
        table.drop_column("lease_ends_on")
    with op.batch_alter_table("applications") as table:
        table.drop_column("review_due_at")
        table.drop_column("uscc")
        table.alter_column("park_id", type_=sa.String(64), existing_nullable=False)
    with op.batch_alter_table("enterprises") as table:
        table.alter_column("name", type_=sa.String(200), existing_nullable=False)
