"""Credit notes keep the lines they credited, so that no later credit takes more than is
left on an invoice line (issue 10). Notes issued before this keep ``lines`` NULL.

Revision ID: 0004_credit_note_lines
Revises: 0003_billing_tables
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_credit_note_lines"
down_revision = "0003_billing_tables"


def upgrade() -> None:
    op.add_column("credit_notes", sa.Column("lines", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("credit_notes", "lines")
