"""Tables of the billing service (its own database; no other service reads them).

- ``accounts``: one per admitted enterprise (``enterprise_admitted``): its USCC, park and
  its customer credit balance (overpayments, credit notes on paid invoices).
- ``holdings``: a unit an account holds under a contract (``units_allocated``), with its
  money terms, from ``start_on`` until ``end_on`` (released or bought back; null: held).
- ``instalments``: a purchase's balance schedule; the billing cycle invoices the due ones;
  a buyback cancels the ones not invoiced yet.
- ``meters``: each meter's last reading (the baseline of the next consumption).
- ``charges``: a line waiting for an invoice (a utility consumption, a paid service),
  unique by ``source_key`` (the reading, the ticket) so a redelivery charges nothing.
- ``invoices``: issued invoices, never edited in their money lines; ``paid_fen`` and
  ``credited_fen`` record what settled them. ``issue_key`` is unique per (account,
  period, kind, reference): the billing cycle run twice, or in two instances, issues once.
- ``invoice_counters``: the last number issued per (park, year), taken ``FOR UPDATE`` in
  the issuing transaction, so numbers are gapless.
- ``payments``: one row per ``bank_txn_id`` (its own primary key: exactly once even when
  the same bank transaction is replayed under a new event id).
- ``credit_notes``, ``audit``: corrections and operator actions.
- ``invoice_settlements``: what lowered each invoice's balance and on which park date (a
  payment, the credit balance, a credit note, a buyback's netting): the aging report of
  a past date uses the balances of that date.
- ``ledger``: double entries; each posting's lines sum to zero (debit positive).
- ``settlements``: buyback settlements computed, then settled.
"""

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from shared.messaging.tables import add_messaging_tables

metadata = MetaData()
messaging = add_messaging_tables(metadata)

accounts = Table(
    "accounts",
    metadata,
    Column("enterprise_id", String(64), primary_key=True),
    Column("park_id", String(64), nullable=True),
    Column("uscc", String(18), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("credit_fen", BigInteger, nullable=False),
    Column("admitted_at", DateTime(timezone=True), nullable=False),
)

holdings = Table(
    "holdings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("enterprise_id", String(64), nullable=False, index=True),
    Column("unit_id", String(64), nullable=False, index=True),
    Column("contract_id", String(64), nullable=False),
    Column("tenure", String(16), nullable=False),
    Column("area_m2", Integer, nullable=False),
    Column("price_fen", BigInteger, nullable=True),
    Column("monthly_rent_fen", BigInteger, nullable=True),
    Column("monthly_property_fee_fen", BigInteger, nullable=False),
    Column("start_on", Date, nullable=False),
    Column("end_on", Date, nullable=True),  # first day no longer held
    UniqueConstraint("enterprise_id", "unit_id", "contract_id", name="uq_holding"),
)

instalments = Table(
    "instalments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("enterprise_id", String(64), nullable=False, index=True),
    Column("contract_id", String(64), nullable=False),
    Column("unit_id", String(64), nullable=False),
    Column("sequence", Integer, nullable=False),  # 0: the down payment
    Column("amount_fen", BigInteger, nullable=False),
    Column("bill_month", String(7), nullable=False),
    Column("invoice_id", String(64), nullable=True),
    Column("cancelled", Boolean, nullable=False),
    UniqueConstraint("contract_id", "unit_id", "sequence", name="uq_instalment"),
)

meters = Table(
    "meters",
    metadata,
    Column("meter_id", String(64), primary_key=True),
    Column("unit_id", String(64), nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("last_reading", String(40), nullable=False),
    Column("last_read_at", DateTime(timezone=True), nullable=False),
    Column("billed_reading", String(40), nullable=False),
)

charges = Table(
    "charges",
    metadata,
    Column("charge_id", String(64), primary_key=True),
    Column("enterprise_id", String(64), nullable=False),
    Column("park_id", String(64), nullable=True),
    Column("category", String(32), nullable=False),
    Column("description", Text, nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("firm_id", String(64), nullable=True),
    Column("payable_fen", BigInteger, nullable=False, default=0),
    Column("source_key", String(200), nullable=False, unique=True),
    Column("invoice_id", String(64), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_charges_open", "enterprise_id", "invoice_id"),
)

invoices = Table(
    "invoices",
    metadata,
    Column("invoice_id", String(64), primary_key=True),
    Column("number", String(40), nullable=False, unique=True),
    Column("park_id", String(64), nullable=True, index=True),
    Column("enterprise_id", String(64), nullable=False, index=True),
    Column("uscc", String(18), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("period", String(7), nullable=False),
    Column("issue_key", String(300), nullable=False, unique=True),
    Column("lines", JSON, nullable=False),
    Column("total_fen", BigInteger, nullable=False),
    Column("tax_fen", BigInteger, nullable=False),
    Column("paid_fen", BigInteger, nullable=False),
    Column("credited_fen", BigInteger, nullable=False),
    Column("issued_on", Date, nullable=False),
    Column("due_on", Date, nullable=False),
    Column("overdue", Boolean, nullable=False),
    Column("late_fee_through", Date, nullable=True),
    Column("late_fees_fen", BigInteger, nullable=False),
    Column("late_fee_waived", Boolean, nullable=False),
    Column("issued_at", DateTime(timezone=True), nullable=False),
)

invoice_counters = Table(
    "invoice_counters",
    metadata,
    Column("park_id", String(64), primary_key=True),
    Column("year", Integer, primary_key=True),
    Column("last_number", Integer, nullable=False),
)

payments = Table(
    "payments",
    metadata,
    Column("bank_txn_id", String(100), primary_key=True),
    Column("payer_uscc", String(40), nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("reference", Text, nullable=False),
    Column("enterprise_id", String(64), nullable=True),
    Column("status", String(16), nullable=False),  # applied | suspense
    Column("applied", JSON, nullable=False),
)

credit_notes = Table(
    "credit_notes",
    metadata,
    Column("credit_note_id", String(64), primary_key=True),
    Column("invoice_id", String(64), nullable=False, index=True),
    Column("enterprise_id", String(64), nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("tax_fen", BigInteger, nullable=False),
    Column("reason", Text, nullable=False),
    Column("operator", String(100), nullable=False),
    Column("issued_at", DateTime(timezone=True), nullable=False),
    # what it took off each invoice line (line_index, total_fen, tax_fen, ...), so that
    # later credits are capped by what is left on each line; NULL for notes issued
    # before it was kept (revision 0004)
    Column("lines", JSON, nullable=True),
)

invoice_settlements = Table(
    "invoice_settlements",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("invoice_id", String(64), nullable=False, index=True),
    Column("park_id", String(64), nullable=True, index=True),
    # the park date it lowered what the invoice owed, by amount_fen (> 0)
    Column("settled_on", Date, nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    # payment | credit_balance | credit_note | buyback
    Column("kind", String(32), nullable=False),
    Column("ref", String(200), nullable=True),  # the bank_txn_id, credit note or claim
)

audit = Table(
    "audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("action", String(40), nullable=False),
    Column("subject", String(100), nullable=False),
    Column("operator", String(100), nullable=False),
    Column("reason", Text, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)

ledger = Table(
    "ledger",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("posting_id", String(64), nullable=False, index=True),
    Column("account", String(64), nullable=False),
    Column("amount_fen", BigInteger, nullable=False),  # debit > 0, credit < 0
    Column("enterprise_id", String(64), nullable=True),
    Column("park_id", String(64), nullable=True),
    Column("memo", Text, nullable=False),
    Column("posted_on", Date, nullable=False),
)

late_fees = Table(
    "late_fees",
    metadata,
    Column("late_fee_id", String(64), primary_key=True),
    Column("invoice_id", String(64), nullable=False, index=True),  # the overdue invoice
    Column("enterprise_id", String(64), nullable=False),
    Column("principal_fen", BigInteger, nullable=False),
    Column("daily_rate", String(20), nullable=False),
    Column("days", Integer, nullable=False),
    Column("accrued_through", Date, nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("capped", Boolean, nullable=False),
    Column("billed_invoice_id", String(64), nullable=True),
    Column("waived", Boolean, nullable=False),
)

settlements = Table(
    "settlements",
    metadata,
    Column("claim_id", String(64), primary_key=True),
    Column("enterprise_id", String(64), nullable=False),
    Column("gross_fen", BigInteger, nullable=False),
    Column("net_fen", BigInteger, nullable=False),
    Column("offsets", JSON, nullable=False),
    Column("settled_on", Date, nullable=True),
)
