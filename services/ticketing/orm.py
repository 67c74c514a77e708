"""Tables of the ticketing service (its own database; no other service reads them).

- ``firms``: the resident firms routing chooses from (registered from the firms files or
  the operator CLI), whether each is active, and its round-robin sequence
  (``last_assigned``).
- ``enterprises``: the projection of admitted enterprises from ``onboarding.events``
  (what a work item tells the firm, and the chief service officer escalations go to).
- ``tickets``: one row per ticket. The aggregate's nested parts (its two SLA clocks, the
  service terms snapshot, the firms that declined) are one JSON document (``state``);
  the columns the service queries by sit beside it: status, assignee, park, enterprise,
  the unique ``origin_key`` (idempotency of what opened it) and the indexed
  ``next_sla_due_at`` the SLA timer scans on (``<= now`` only: never a full scan).
- ``withdrawn_claims``: buyback claims withdrawn, so that a ``claim_review_requested``
  arriving after its ``claim_withdrawn`` (events of different types arrive in any order)
  opens no review.
"""

from sqlalchemy import (
    JSON,
    Boolean,
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

firms = Table(
    "firms",
    metadata,
    Column("firm_id", String(40), primary_key=True),
    Column("park_id", String(64), nullable=True),  # null: serves every park
    Column("name", String(200), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("skills", JSON, nullable=False),
    Column("capacity", Integer, nullable=False),
    Column("contact", JSON, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("last_assigned", Integer, nullable=False, default=0),
    Column("disabled_reason", Text, nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

enterprises = Table(
    "enterprises",
    metadata,
    Column("enterprise_id", String(64), primary_key=True),
    Column("park_id", String(64), nullable=True),
    Column("name", String(200), nullable=False),
    Column("uscc", String(18), nullable=False),
    Column("legal_representative", String(100), nullable=False),
    Column("contact_phone", String(40), nullable=False),
    Column("chief_service_officer", String(64), nullable=True),
    Column("admitted_at", DateTime(timezone=True), nullable=False),
)

tickets = Table(
    "tickets",
    metadata,
    Column("ticket_id", String(36), primary_key=True),
    Column("origin_key", String(200), nullable=False, unique=True),
    Column("park_id", String(64), nullable=True),
    Column("enterprise_id", String(64), nullable=False),
    Column("service_code", String(16), nullable=False),
    Column("status", String(32), nullable=False),
    Column("firm_id", String(40), nullable=True),
    Column("claim_id", String(36), nullable=True),
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("next_sla_due_at", DateTime(timezone=True), nullable=True),
    Column("state", JSON, nullable=False),
    Index("ix_tickets_next_sla_due_at", "next_sla_due_at"),
    Index("ix_tickets_status_park", "status", "park_id"),
    Index("ix_tickets_firm_status", "firm_id", "status"),
    Index("ix_tickets_claim", "claim_id"),
    Index("ix_tickets_park_opened", "park_id", "opened_at"),
    Index("ix_tickets_enterprise", "enterprise_id"),
)

withdrawn_claims = Table(
    "withdrawn_claims",
    metadata,
    Column("claim_id", String(36), primary_key=True),
    Column("reason", Text, nullable=False),
    Column("withdrawn_at", DateTime(timezone=True), nullable=False),
)
