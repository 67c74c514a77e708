"""Tables of the onboarding service (its own database; no other service reads them).

Units and enterprises are plain rows. An application is one row whose nested parts
(submission, decisions, deficiency items, reasons) are JSON documents, with the columns
the service queries by — status, park, next deadline — kept beside them. ``history`` keeps
every domain event of an application, for the operator's "full history" query (the outbox
forgets sent rows after a week).
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
)

from shared.messaging.tables import add_messaging_tables

metadata = MetaData()
messaging = add_messaging_tables(metadata)

parks = Table(
    "parks",
    metadata,
    Column("park_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("definition", Text, nullable=False),  # the park file's YAML, as loaded
    Column("source", String(500), nullable=False),
    Column("loaded_at", DateTime(timezone=True), nullable=False),
)

units = Table(
    "units",
    metadata,
    Column("park_id", String(64), primary_key=True),
    Column("unit_id", String(32), primary_key=True),
    Column("building", String(16), nullable=False),
    Column("floor", Integer, nullable=True),
    Column("room", Integer, nullable=True),
    Column("area_m2", Integer, nullable=False),
    Column("purchase_price_per_m2_fen", BigInteger, nullable=False),
    Column("monthly_rent_per_m2_fen", BigInteger, nullable=False),
    Column("property_fee_per_m2_fen", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("reserved_for", String(36), nullable=True),
    Column("holder", String(36), nullable=True),
    Column("contract_id", String(36), nullable=True),
    Column("lease_ends_on", Date, nullable=True),  # a leased unit's term ends that day
    Index("ix_units_park_status", "park_id", "status"),
    Index("ix_units_holder", "holder"),
    Index("ix_units_lease_ends_on", "lease_ends_on"),
)

applications = Table(
    "applications",
    metadata,
    Column("application_id", String(36), primary_key=True),
    Column("park_id", Text, nullable=False),  # as the envelope gave it: it may be unknown
    Column("status", String(16), nullable=False),
    Column("uscc", Text, nullable=True),  # as submitted (unchecked on a rejected one)
    Column("enterprise_id", String(36), nullable=True),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("closed_at", DateTime(timezone=True), nullable=True),
    # The earliest instant at which the deadline timer has something to do, or null.
    Column("next_deadline_at", DateTime(timezone=True), nullable=True),
    # When the joint review is overdue (the park's review time limit), while under review.
    Column("review_due_at", DateTime(timezone=True), nullable=True),
    # The flow the application started: what the deadline timer's events belong to.
    Column("correlation_id", String(36), nullable=True),
    Column("document", JSON, nullable=False),
    Index("ix_applications_next_deadline", "next_deadline_at"),
    Index("ix_applications_uscc", "uscc", "status"),
)

enterprises = Table(
    "enterprises",
    metadata,
    Column("enterprise_id", String(36), primary_key=True),
    Column("park_id", String(64), nullable=False),
    Column("application_id", String(36), nullable=False, unique=True),
    Column("name", Text, nullable=False),  # the contract bounds no name
    Column("uscc", String(18), nullable=False),
    Column("industry_code", String(8), nullable=False),
    Column("supply_chain_partner", Boolean, nullable=False),
    Column("environmental_review_required", Boolean, nullable=False),
    Column("chief_service_officer", String(64), nullable=False),
    Column("admitted_at", DateTime(timezone=True), nullable=False),
    Column("production_started_on", Date, nullable=True),
    Column("active", Boolean, nullable=False),
    Index("ix_enterprises_officer", "park_id", "chief_service_officer", "active"),
    Index("ix_enterprises_uscc", "park_id", "uscc"),
)

service_visits = Table(
    "service_visits",
    metadata,
    Column("visit_id", String(64), primary_key=True),
    Column("enterprise_id", String(36), nullable=False, index=True),
    Column("officer_id", String(64), nullable=False),
    Column("visited_on", Date, nullable=False),
    Column("note", Text, nullable=False),
)

history = Table(
    "history",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("application_id", String(36), nullable=True, index=True),
    Column("enterprise_id", String(36), nullable=True, index=True),
    Column("event_type", String(64), nullable=False),
    Column("event_id", String(36), nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("payload", JSON, nullable=False),
)
