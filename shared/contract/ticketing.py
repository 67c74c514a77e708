"""Events the ticketing service publishes: ``ticketing.events`` (DESIGN §5) and the work
items it sends to one firm's queue on ``ticketing.work`` (routing key = the firm's id).

**Origin.** Every ticket event carries ``ticket_id``, ``enterprise_id``, ``service_code``
and what opened the ticket, named by ``origin``:

* ``service_request`` — an enterprise asked (``portal.events/service_requested``):
  ``request_id`` set, ``claim_id`` and ``review`` null;
* ``buyback_review`` — a buyback claim asked for a review
  (``buyback.events/claim_review_requested``): ``claim_id`` and ``review`` (``legal`` |
  ``finance``) set, ``request_id`` null;
* ``admission`` — the environmental review (环评) opened when an enterprise whose
  industry requires one is admitted: ``request_id``, ``claim_id`` and ``review`` all
  null (one per admitted enterprise: ``enterprise_id`` identifies it).

A payload whose ids disagree with its ``origin`` (none given, both given, a review
without its claim) is malformed. ``service_request_rejected`` is about a request that
never became a ticket: its ``ticket_id`` is null and its origin is ``service_request``.

Work items name only the ticket they are about, its service, and the one enterprise the
firm works for: nothing about other firms or other enterprises.
"""

from marshmallow import ValidationError, fields, validate, validates_schema

from shared.contract.fields import (
    TEXT_MAX_LENGTH,
    Fen,
    StrictInteger,
    StrictList,
    Text,
    UtcDateTime,
    Uuid,
    text_problem,
)
from shared.contract.onboarding import ReasonSchema
from shared.contract.registry import PayloadSchema, event

ORIGINS = ("service_request", "buyback_review", "admission")
REVIEWS = ("legal", "finance")
OUTCOMES = ("done", "approve", "reject")
CLOCKS = ("first_response", "resolution")
PRIORITIES = ("normal", "urgent")
FEE_POLICIES = ("free", "fixed", "quoted")


class FreeText(fields.String):
    """A JSON string of valid text that may be empty (a note, a comment, a description):
    no NUL, no lone surrogate, at most ``max_length`` characters."""

    def __init__(self, *, max_length: int = TEXT_MAX_LENGTH, **kwargs):
        super().__init__(**kwargs)
        self.max_length = max_length

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if problem := text_problem(text):
            raise ValidationError(problem)
        if len(text) > self.max_length:
            raise ValidationError(f"Longer than {self.max_length} characters.")
        return text


def _nullable_text(**kwargs):
    return Text(required=True, allow_none=True, **kwargs)


def check_origin(data: dict) -> None:
    """Raise ``ValidationError`` unless exactly the ids of ``data["origin"]`` are given."""
    origin = data.get("origin")
    given = {name for name in ("request_id", "claim_id", "review") if data.get(name) is not None}
    wanted = {
        "service_request": {"request_id"},
        "buyback_review": {"claim_id", "review"},
        "admission": set(),
    }.get(origin)
    if wanted is None:
        return  # the field's own validator names a missing or unknown origin
    if given != wanted:
        expected = " and ".join(sorted(wanted)) or "none of request_id, claim_id, review"
        raise ValidationError(
            f"origin {origin} carries {expected}; given: {', '.join(sorted(given)) or 'none'}",
            "origin",
        )


class TicketPayload(PayloadSchema):
    """What every ticket event carries: the ticket, its enterprise and service, its origin."""

    ticket_id = Text(required=True)
    enterprise_id = Text(required=True)
    service_code = Text(required=True)
    origin = Text(required=True, validate=validate.OneOf(ORIGINS))
    request_id = Uuid(required=True, allow_none=True)
    claim_id = Uuid(required=True, allow_none=True)
    review = Text(required=True, allow_none=True, validate=validate.OneOf(REVIEWS))

    @validates_schema
    def one_origin(self, data, **kwargs):
        check_origin(data)


@event("ticketing", "service_request_rejected")
class ServiceRequestRejected(TicketPayload):
    """A service request did not become a ticket; ``reasons`` (all found) say why.

    ``ticket_id`` is null (no ticket exists) and ``origin`` is ``service_request``."""

    ticket_id = Text(required=True, allow_none=True)
    origin = Text(required=True, validate=validate.OneOf(["service_request"]))
    reasons = StrictList(fields.Nested(ReasonSchema), required=True, min_length=1)


@event("ticketing", "ticket_opened")
class TicketOpened(TicketPayload):
    """A ticket exists, with its due times; until ``ticket_assigned`` it waits unassigned."""

    priority = Text(required=True, validate=validate.OneOf(PRIORITIES))
    description = FreeText(required=True)
    fee_policy = Text(required=True, validate=validate.OneOf(FEE_POLICIES))
    fee_fen = Fen(required=True, allow_none=True)
    first_response_due_at = UtcDateTime(required=True)
    resolution_due_at = UtcDateTime(required=True)


@event("ticketing", "ticket_assigned")
class TicketAssigned(TicketPayload):
    """The ticket was routed to ``firm_id`` (its work item is on that firm's queue)."""

    firm_id = Text(required=True)


@event("ticketing", "ticket_accepted")
class TicketAccepted(TicketPayload):
    """The assigned firm took the work (first response)."""

    firm_id = Text(required=True)


@event("ticketing", "ticket_reassigned")
class TicketReassigned(TicketPayload):
    """The ticket moved from ``from_firm_id`` to ``to_firm_id`` (null: back to waiting
    unassigned); ``why`` says what moved it (``declined``, ``firm_disabled``)."""

    from_firm_id = Text(required=True)
    to_firm_id = _nullable_text()
    why = Text(required=True)


@event("ticketing", "ticket_progressed")
class TicketProgressed(TicketPayload):
    """The assigned firm reported progress (``note`` is for the enterprise)."""

    firm_id = Text(required=True)
    note = FreeText(required=True)


@event("ticketing", "ticket_waiting")
class TicketWaiting(TicketPayload):
    """The firm waits on the enterprise: the SLA clocks are paused."""

    firm_id = _nullable_text()
    note = FreeText(required=True)


@event("ticketing", "ticket_resumed")
class TicketResumed(TicketPayload):
    """The SLA clocks run again: ``by`` ``enterprise`` (it replied), ``firm`` (its
    progress report without ``waiting_on_enterprise``), or — a waiting ticket moved away
    from its firm (``ticket_reassigned`` follows) — the reassignment's ``why``:
    ``declined`` or ``firm_disabled``."""

    by = Text(required=True)


@event("ticketing", "ticket_resolved")
class TicketResolved(TicketPayload):
    """The firm completed the work: ``outcome`` ``done`` (a service) or ``approve`` |
    ``reject`` (a review, ``reasons`` saying why); ``fee_fen`` what the enterprise is
    charged, null when the service is free."""

    firm_id = Text(required=True)
    outcome = Text(required=True, validate=validate.OneOf(OUTCOMES))
    reasons = StrictList(Text(), required=True)
    fee_fen = Fen(required=True, allow_none=True)
    note = FreeText(load_default="")


@event("ticketing", "ticket_closed")
class TicketClosed(TicketPayload):
    """The ticket is finished: ``why`` ``rated`` or ``auto_closed`` (N business days
    after resolution without a rating)."""

    why = Text(required=True)


class _SlaPayload(TicketPayload):
    clock = Text(required=True, validate=validate.OneOf(CLOCKS))
    firm_id = _nullable_text()


@event("ticketing", "sla_warning")
class SlaWarning(_SlaPayload):
    """A ``clock`` (``first_response`` | ``resolution``) used 80 % of its business hours;
    ``due_at`` is when it breaches if nothing pauses it — null when the clock is paused
    (waiting on the enterprise) as the warning is sent: a paused clock has no breach
    instant."""

    due_at = UtcDateTime(required=True, allow_none=True)


@event("ticketing", "sla_breached")
class SlaBreached(_SlaPayload):
    """A ``clock`` used up its business hours at ``due_at``."""

    due_at = UtcDateTime(required=True)


@event("ticketing", "ticket_escalated")
class TicketEscalated(_SlaPayload):
    """A breached ticket goes to the enterprise's chief service officer (限时整改、逐项解决);
    null when the enterprise has none on record."""

    chief_service_officer = _nullable_text()


@event("ticketing", "ticket_rated")
class TicketRated(TicketPayload):
    """The enterprise rated the work once (``score`` 1–5); ``firm_id`` the firm rated."""

    firm_id = _nullable_text()
    score = StrictInteger(required=True, minimum=1, maximum=5)
    comment = FreeText(required=True)


@event("ticketing", "ticket_cancelled")
class TicketCancelled(TicketPayload):
    """The ticket was cancelled (``reason``, e.g. ``claim_withdrawn``); ``firm_id`` the
    assignee whose work item is withdrawn, if any."""

    reason = Text(required=True)
    firm_id = _nullable_text()


# -- ticketing.work: to one firm's queue ------------------------------------------------


class EnterpriseCardSchema(PayloadSchema):
    """The enterprise the work is for, as much as the firm needs to contact it."""

    enterprise_id = Text(required=True)
    name = Text(required=True)
    uscc = Text(required=True)
    legal_representative = Text(required=True)
    contact_phone = Text(required=True)


@event("ticketing", "work_assigned")
class WorkAssigned(PayloadSchema):
    """A ticket for the firm: the service, the enterprise, the description, the due
    times (null once that clock stopped) and the fee terms (``fee_fen`` for a fixed fee;
    null for free and quoted services)."""

    ticket_id = Text(required=True)
    firm_id = Text(required=True)
    service_code = Text(required=True)
    service_name = Text(required=True)
    service_name_en = Text(load_default=None, allow_none=True)
    origin = Text(required=True, validate=validate.OneOf(ORIGINS))
    request_id = Uuid(required=True, allow_none=True)
    claim_id = Uuid(required=True, allow_none=True)
    review = Text(required=True, allow_none=True, validate=validate.OneOf(REVIEWS))
    priority = Text(required=True, validate=validate.OneOf(PRIORITIES))
    description = FreeText(required=True)
    fee_policy = Text(required=True, validate=validate.OneOf(FEE_POLICIES))
    fee_fen = Fen(required=True, allow_none=True)
    enterprise = fields.Nested(EnterpriseCardSchema, required=True)
    first_response_due_at = UtcDateTime(required=True, allow_none=True)
    resolution_due_at = UtcDateTime(required=True, allow_none=True)

    @validates_schema
    def one_origin(self, data, **kwargs):
        check_origin(data)


@event("ticketing", "work_withdrawn")
class WorkWithdrawn(PayloadSchema):
    """The ticket was taken away from the firm (``reason``: ``ticket_cancelled`` or
    ``firm_disabled``): stop working on it. A firm that declined gets none."""

    ticket_id = Text(required=True)
    firm_id = Text(required=True)
    reason = Text(required=True)
