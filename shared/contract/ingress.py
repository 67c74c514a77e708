"""Events that other systems publish into the park (DESIGN §4), and firms' work reports.

Only the *shape* is checked here (required fields, JSON types, strict money and times;
every string is ``Text``: valid text, at most 10,000 characters, free text such as a
reason or a note possibly empty, as it always could be):
a value that breaks a business rule is answered by the consuming service with a
rejection event carrying reason codes, not dead-lettered.
"""

from marshmallow import fields, validate

from shared.contract.fields import (
    MAX_METER_READING,
    DecimalString,
    Fen,
    StrictBoolean,
    StrictInteger,
    StrictList,
    Text,
    UtcDateTime,
    Uuid,
)
from shared.contract.registry import PayloadSchema, event


class EnterpriseSchema(PayloadSchema):
    """The applying enterprise as the portal describes it."""

    name = Text(required=True)
    uscc = Text(required=True)
    legal_representative = Text(required=True)
    contact_phone = Text(required=True)
    industry_code = Text(required=True)
    employees = StrictInteger(required=True, minimum=0)


@event("portal", "application_submitted")
class ApplicationSubmitted(PayloadSchema):
    """An enterprise applies to enter a park; onboarding validates and reserves units."""

    application_id = Uuid(required=True)
    enterprise = fields.Nested(EnterpriseSchema, required=True)
    tenure = Text(required=True, validate=validate.OneOf(["purchase", "lease"]))
    requested_units = StrictList(Text(), required=True, min_length=1)
    documents = StrictList(Text(), required=True)
    supply_chain_partner = StrictBoolean(required=True)
    # Optional (added later): months of a lease, one of the park's terms; a lease without
    # it gets the park's shortest term. A value the park does not offer is rejected.
    lease_term_months = StrictInteger(load_default=None, allow_none=True)


@event("gov", "review_decided")
class ReviewDecided(PayloadSchema):
    """A joint-review department decides on an application."""

    application_id = Uuid(required=True)
    department = Text(required=True)
    decision = Text(required=True, validate=validate.OneOf(["approve", "reject"]))
    reason = Text(required=True, allow_empty=True)


@event("portal", "documents_supplied")
class DocumentsSupplied(PayloadSchema):
    """The applicant supplies documents missing at submission (容缺)."""

    application_id = Uuid(required=True)
    documents = StrictList(Text(), required=True, min_length=1)


@event("portal", "application_withdrawn")
class ApplicationWithdrawn(PayloadSchema):
    """The applicant withdraws an application still under review (its units are freed)."""

    application_id = Uuid(required=True)
    reason = Text(required=True)


@event("portal", "service_requested")
class ServiceRequested(PayloadSchema):
    """An admitted enterprise asks for one of the 58 services."""

    request_id = Uuid(required=True)
    enterprise_id = Text(required=True)
    service_code = Text(required=True)
    description = Text(required=True, allow_empty=True)
    priority = Text(required=True, validate=validate.OneOf(["normal", "urgent"]))


@event("portal", "ticket_rated")
class TicketRated(PayloadSchema):
    """The enterprise rates a resolved ticket."""

    ticket_id = Text(required=True)
    score = StrictInteger(required=True, minimum=1, maximum=5)
    comment = Text(required=True, allow_empty=True)


@event("portal", "buyback_requested")
class BuybackRequested(PayloadSchema):
    """An enterprise in difficulty asks the park owner to buy its property back."""

    claim_id = Uuid(required=True)
    enterprise_id = Text(required=True)
    reason = Text(required=True)
    evidence = StrictList(Text(), required=True)


@event("portal", "buyback_withdrawn")
class BuybackWithdrawn(PayloadSchema):
    """The enterprise withdraws its buyback claim before settlement (added with the
    buyback service): its open reviews are cancelled (``buyback/claim_withdrawn``)."""

    claim_id = Uuid(required=True)
    enterprise_id = Text(required=True)
    reason = Text(required=True)


@event("bank", "payment_received")
class PaymentReceived(PayloadSchema):
    """The bank gateway reports money received; applied once per ``bank_txn_id``."""

    bank_txn_id = Text(required=True)
    payer_uscc = Text(required=True)
    amount_fen = Fen(required=True, minimum=1)
    received_at = UtcDateTime(required=True)
    reference = Text(required=True, allow_empty=True)


@event("meters", "reading_recorded")
class ReadingRecorded(PayloadSchema):
    """A water or electricity meter reading (a cumulative decimal string, e.g. "1234.5")."""

    meter_id = Text(required=True)
    unit_id = Text(required=True)
    kind = Text(required=True, validate=validate.OneOf(["water", "electricity"]))
    reading = DecimalString(required=True, minimum=0, maximum=MAX_METER_READING)
    read_at = UtcDateTime(required=True)


class _WorkReport(PayloadSchema):
    ticket_id = Text(required=True)
    note = Text(required=True, allow_empty=True)


@event("firms", "work_accepted")
class WorkAccepted(_WorkReport):
    """A resident firm accepts a ticket assigned to it."""


@event("firms", "work_declined")
class WorkDeclined(_WorkReport):
    """A resident firm declines a ticket assigned to it (it will be reassigned)."""


@event("firms", "work_progressed")
class WorkProgressed(_WorkReport):
    """A resident firm reports progress on a ticket; ``waiting_on_enterprise`` (optional,
    default false) pauses the SLA clocks until the enterprise replies."""

    waiting_on_enterprise = StrictBoolean(load_default=False)


@event("firms", "work_completed")
class WorkCompleted(_WorkReport):
    """A resident firm completes a ticket: ``outcome`` ``done`` (a service) or ``approve``
    | ``reject`` (a review), optional ``reasons``, and ``fee_fen`` (null or absent for free
    and fixed-fee services; the ticketing service requires it for quoted ones)."""

    outcome = Text(required=True, validate=validate.OneOf(["done", "approve", "reject"]))
    reasons = StrictList(Text(), load_default=list)
    fee_fen = Fen(load_default=None, allow_none=True, minimum=0)


@event("portal", "ticket_replied")
class TicketReplied(PayloadSchema):
    """The enterprise answers a firm waiting on it: the ticket's SLA clocks run again."""

    ticket_id = Text(required=True)
    message = Text(required=True)
