"""Billing's own tables: accounts, holdings, instalments, meters, charges, invoices and
their per-(park, year) counters, payments, credit notes, the audit trail, the ledger, late
fees and buyback settlements (``services/billing/orm.py`` says what each holds).

Written out (not created from the live ``orm`` metadata), so that this revision keeps
creating what it created when a later one changes a table.

Revision ID: 0003_billing_tables
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_billing_tables"
down_revision = "0002"


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("enterprise_id", sa.String(length=64), nullable=False),
        sa.Column("park_id", sa.String(length=64), nullable=True),
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("credit_fen", sa.BigInteger(), nullable=False),
        sa.Column("admitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("enterprise_id"),
    )
    op.create_index(op.f("ix_accounts_uscc"), "accounts", ["uscc"], unique=False)
    op.create_table(
        "holdings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("enterprise_id", sa.String(length=64), nullable=False),
        sa.Column("unit_id", sa.String(length=64), nullable=False),
        sa.Column("contract_id", sa.String(length=64), nullable=False),
        sa.Column("tenure", sa.String(length=16), nullable=False),
        sa.Column("area_m2", sa.Integer(), nullable=False),
        sa.Column("price_fen", sa.BigInteger(), nullable=True),
        sa.Column("monthly_rent_fen", sa.BigInteger(), nullable=True),
        sa.Column("monthly_property_fee_fen", sa.BigInteger(), nullable=False),
        sa.Column("start_on", sa.Date(), nullable=False),
        sa.Column("end_on", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("enterprise_id", "unit_id", "contract_id", name="uq_holding"),
    )
    op.create_index(op.f("ix_holdings_enterprise_id"), "holdings", ["enterprise_id"], unique=False)
    op.create_index(op.f("ix_holdings_unit_id"), "holdings", ["unit_id"], unique=False)
    op.create_table(
        "instalments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("enterprise_id", sa.String(length=64), nullable=False),
        sa.Column("contract_id", sa.String(length=64), nullable=False),
        sa.Column("unit_id", sa.String(length=64), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("bill_month", sa.String(length=7), nullable=False),
        sa.Column("invoice_id", sa.String(length=64), nullable=True),
        sa.Column("cancelled", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("contract_id", "unit_id", "sequence", name="uq_instalment"),
    )
    op.create_index(
        op.f("ix_instalments_enterprise_id"), "instalments", ["enterprise_id"], unique=False
    )
    op.create_table(
        "meters",
        sa.Column("meter_id", sa.String(length=64), nullable=False),
        sa.Column("unit_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("last_reading", sa.String(length=40), nullable=False),
        sa.Column("last_read_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("billed_reading", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("meter_id"),
    )
    op.create_index(op.f("ix_meters_unit_id"), "meters", ["unit_id"], unique=False)
    op.create_table(
        "charges",
        sa.Column("charge_id", sa.String(length=64), nullable=False),
        sa.Column("enterprise_id", sa.String(length=64), nullable=False),
        sa.Column("park_id", sa.String(length=64), nullable=True),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("firm_id", sa.String(length=64), nullable=True),
        sa.Column("payable_fen", sa.BigInteger(), nullable=False),
        sa.Column("source_key", sa.String(length=200), nullable=False),
        sa.Column("invoice_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("charge_id"),
        sa.UniqueConstraint("source_key"),
    )
    op.create_index("ix_charges_open", "charges", ["enterprise_id", "invoice_id"], unique=False)
    op.create_table(
        "invoices",
        sa.Column("invoice_id", sa.String(length=64), nullable=False),
        sa.Column("number", sa.String(length=40), nullable=False),
        sa.Column("park_id", sa.String(length=64), nullable=True),
        sa.Column("enterprise_id", sa.String(length=64), nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("issue_key", sa.String(length=300), nullable=False),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.Column("total_fen", sa.BigInteger(), nullable=False),
        sa.Column("tax_fen", sa.BigInteger(), nullable=False),
        sa.Column("paid_fen", sa.BigInteger(), nullable=False),
        sa.Column("credited_fen", sa.BigInteger(), nullable=False),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("overdue", sa.Boolean(), nullable=False),
        sa.Column("late_fee_through", sa.Date(), nullable=True),
        sa.Column("late_fees_fen", sa.BigInteger(), nullable=False),
        sa.Column("late_fee_waived", sa.Boolean(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("invoice_id"),
        sa.UniqueConstraint("issue_key"),
        sa.UniqueConstraint("number"),
    )
    op.create_index(op.f("ix_invoices_enterprise_id"), "invoices", ["enterprise_id"], unique=False)
    op.create_index(op.f("ix_invoices_park_id"), "invoices", ["park_id"], unique=False)
    op.create_table(
        "invoice_counters",
        sa.Column("park_id", sa.String(length=64), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("last_number", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("park_id", "year"),
    )
    op.create_table(
        "payments",
        sa.Column("bank_txn_id", sa.String(length=100), nullable=False),
        sa.Column("payer_uscc", sa.String(length=40), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reference", sa.Text(), nullable=False),
        sa.Column("enterprise_id", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("applied", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("bank_txn_id"),
    )
    op.create_table(
        "credit_notes",
        sa.Column("credit_note_id", sa.String(length=64), nullable=False),
        sa.Column("invoice_id", sa.String(length=64), nullable=False),
        sa.Column("enterprise_id", sa.String(length=64), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("tax_fen", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("operator", sa.String(length=100), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("credit_note_id"),
    )
    op.create_index(
        op.f("ix_credit_notes_invoice_id"), "credit_notes", ["invoice_id"], unique=False
    )
    op.create_table(
        "audit",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("subject", sa.String(length=100), nullable=False),
        sa.Column("operator", sa.String(length=100), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "ledger",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("posting_id", sa.String(length=64), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("enterprise_id", sa.String(length=64), nullable=True),
        sa.Column("park_id", sa.String(length=64), nullable=True),
        sa.Column("memo", sa.Text(), nullable=False),
        sa.Column("posted_on", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_ledger_posting_id"), "ledger", ["posting_id"], unique=False)
    op.create_table(
        "late_fees",
        sa.Column("late_fee_id", sa.String(length=64), nullable=False),
        sa.Column("invoice_id", sa.String(length=64), nullable=False),
        sa.Column("enterprise_id", sa.String(length=64), nullable=False),
        sa.Column("principal_fen", sa.BigInteger(), nullable=False),
        sa.Column("daily_rate", sa.String(length=20), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("accrued_through", sa.Date(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("capped", sa.Boolean(), nullable=False),
        sa.Column("billed_invoice_id", sa.String(length=64), nullable=True),
        sa.Column("waived", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("late_fee_id"),
    )
    op.create_index(op.f("ix_late_fees_invoice_id"), "late_fees", ["invoice_id"], unique=False)
    op.create_table(
        "settlements",
        sa.Column("claim_id", sa.String(length=64), nullable=False),
        sa.Column("enterprise_id", sa.String(length=64), nullable=False),
        sa.Column("gross_fen", sa.BigInteger(), nullable=False),
        sa.Column("net_fen", sa.BigInteger(), nullable=False),
        sa.Column("offsets", sa.JSON(), nullable=False),
        sa.Column("settled_on", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("claim_id"),
    )


def downgrade() -> None:
    op.drop_table("settlements")
    op.drop_table("late_fees")
    op.drop_table("ledger")
    op.drop_table("audit")
    op.drop_table("credit_notes")
    op.drop_table("payments")
    op.drop_table("invoice_counters")
    op.drop_table("invoices")
    op.drop_table("charges")
    op.drop_table("meters")
    op.drop_table("instalments")
    op.drop_table("holdings")
    op.drop_table("accounts")
