"""Billing's own tables: accounts, holdings, instalments, meters, charges, invoices and
their per-(park, year) counters, payments, credit notes, the audit trail, the ledger and
buyback settlements (see ``services/billing/orm.py`` for what each holds).

Revision ID: 0003_billing_tables
Revises: 0002
"""

from alembic import op

from services.billing import orm

revision = "0003_billing_tables"
down_revision = "0002"

TABLES = (
    orm.accounts,
    orm.holdings,
    orm.instalments,
    orm.meters,
    orm.charges,
    orm.invoices,
    orm.invoice_counters,
    orm.payments,
    orm.credit_notes,
    orm.audit,
    orm.ledger,
    orm.late_fees,
    orm.settlements,
)


def upgrade() -> None:
    # The tables as this revision defines them; a later change to one is a new revision.
    orm.metadata.create_all(op.get_bind(), tables=list(TABLES))


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table.name)
