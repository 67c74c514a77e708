"""What settled each invoice, and when: one row per payment, credit balance, credit note
or buyback netting that lowered what an invoice owed, so the aging report for a past
``as_of`` uses the balances of that date (issue 10). Reductions made before this revision
have no row: the aging report counts them as made before any date (as it did).

Revision ID: 0005_invoice_settlements
Revises: 0004_credit_note_lines
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_invoice_settlements"
down_revision = "0004_credit_note_lines"


def upgrade() -> None:
    op.create_table(
        "invoice_settlements",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("invoice_id", sa.String(64), nullable=False, index=True),
        sa.Column("park_id", sa.String(64), nullable=True, index=True),
        sa.Column("settled_on", sa.Date(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("ref", sa.String(200), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("invoice_settlements")
