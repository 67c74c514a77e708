"""Tables of the buyback service (its own database; no other service reads them).

- ``holdings``: the projection of ``onboarding.events`` — per enterprise, its units (with
  tenure, recorded price and allocation time), the contracts of its units that ended,
  production start and park, as one JSON document.
- ``claims``: one row per claim; the aggregate is a JSON document (``state``), with the
  columns the service queries by beside it: ``enterprise_id``, ``status`` and the indexed
  ``next_due_at`` the deadline timer scans on (``<= now`` only: never a full scan).
- ``claim_steps``: the history of each claim — every event it published and every step
  that caused none, with its time and the verified sender of what caused it, in order.
"""

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

from shared.messaging.tables import add_messaging_tables

metadata = MetaData()
messaging = add_messaging_tables(metadata)

holdings = Table(
    "holdings",
    metadata,
    Column("enterprise_id", Text, primary_key=True),
    Column("park_id", Text, nullable=True),
    Column("state", JSON, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

claims = Table(
    "claims",
    metadata,
    Column("claim_id", String(36), primary_key=True),
    Column("enterprise_id", Text, nullable=False),
    Column("park_id", Text, nullable=True),
    Column("status", String(32), nullable=False),
    Column("filed_at", DateTime(timezone=True), nullable=False),
    Column("next_due_at", DateTime(timezone=True), nullable=True),
    Column("state", JSON, nullable=False),
    Index("ix_claims_next_due_at", "next_due_at"),
    Index("ix_claims_enterprise_status", "enterprise_id", "status"),
    Index("ix_claims_status", "status"),
    Index("ix_claims_filed", "filed_at", "claim_id"),
)

claim_steps = Table(
    "claim_steps",
    metadata,
    Column("step_id", Integer, primary_key=True, autoincrement=True),
    Column("claim_id", String(36), nullable=False),
    Column("step", String(64), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("event_id", String(36), nullable=True),
    # The verified broker user of the message that caused the step (None: the deadline
    # timer, an operator's RPC or CLI).
    Column("sender", Text, nullable=True),
    Column("detail", JSON, nullable=False),
    Index("ix_claim_steps_claim", "claim_id", "step_id"),
)
