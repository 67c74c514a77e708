"""Events the buyback service publishes on ``buyback.events`` (DESIGN §5; issue 11).

``claim_settled``, ``claim_review_requested``, ``claim_withdrawn`` and
``settlement_requested`` were registered before the service existed, because onboarding
(it releases the units of a settled claim), billing (it nets the enterprise's debts and
stops the units' recurring charges) and ticketing (it opens and cancels the legal and
finance reviews) consume them. The rest of a claim's life was added with the service:
``claim_filed``, ``claim_ineligible``, ``claim_duplicate_refused``, ``claim_approved``,
``claim_rejected``, ``claim_closed``, ``claim_escalated``, ``claim_withdrawal_refused``
(docs/events.md, docs/buyback.md). Every payload carries ``claim_id`` and
``enterprise_id``.
"""

from marshmallow import ValidationError, fields, validate, validates_schema

from shared.contract.fields import Fen, IsoDate, StrictInteger, StrictList, Text, Uuid
from shared.contract.onboarding import ReasonSchema
from shared.contract.registry import PayloadSchema, event


@event("buyback", "claim_settled")
class ClaimSettled(PayloadSchema):
    """The park owner bought the enterprise's units back: they return to inventory."""

    claim_id = Uuid(required=True)
    enterprise_id = Text(required=True)
    units = StrictList(Text(), required=True, min_length=1)
    # Added for billing (optional: absent from events published before they existed):
    # the price paid, the net after billing's offsets (negative: the enterprise still
    # owes it) and the park-local date from which the units' recurring charges stop.
    gross_fen = Fen(load_default=None, allow_none=True)
    net_fen = StrictInteger(load_default=None, allow_none=True)
    settled_on = IsoDate(load_default=None, allow_none=True)


class SettlementUnitSchema(PayloadSchema):
    """A unit the park buys back, at its recorded original price."""

    unit_id = Text(required=True)
    price_fen = Fen(required=True)


@event("buyback", "settlement_requested")
class SettlementRequested(PayloadSchema):
    """The claim is approved: billing nets the enterprise's debts from ``gross_fen`` (the
    sum of the units' original prices) and answers ``buyback_settlement_computed``."""

    claim_id = Uuid(required=True)
    enterprise_id = Text(required=True)
    units = StrictList(fields.Nested(SettlementUnitSchema), required=True, min_length=1)
    gross_fen = Fen(required=True)

    @validates_schema
    def gross_is_the_sum_of_the_prices(self, data, **kwargs):
        if "units" not in data or "gross_fen" not in data:
            return
        unit_ids = [unit["unit_id"] for unit in data["units"]]
        if len(set(unit_ids)) != len(unit_ids):
            raise ValidationError("a unit is listed twice", "units")
        total = sum(unit["price_fen"] for unit in data["units"])
        if data["gross_fen"] != total:
            raise ValidationError(
                f"gross_fen {data['gross_fen']} is not the sum of the units' prices: {total}",
                "gross_fen",
            )


@event("buyback", "claim_review_requested")
class ClaimReviewRequested(PayloadSchema):
    """The claim needs its ``reviews`` (``legal``, ``finance``): ticketing opens one review
    ticket each, free to the enterprise, with the claim's ``reason`` and ``evidence``."""

    claim_id = Uuid(required=True)
    enterprise_id = Text(required=True)
    reviews = StrictList(
        Text(validate=validate.OneOf(["legal", "finance"])), required=True, min_length=1
    )
    reason = Text(required=True)
    evidence = StrictList(Text(), required=True)


@event("buyback", "claim_withdrawn")
class ClaimWithdrawn(PayloadSchema):
    """The enterprise withdrew its claim (``reason``): ticketing cancels its open reviews."""

    claim_id = Uuid(required=True)
    enterprise_id = Text(required=True)
    reason = Text(required=True)


# -- Added with the buyback service (issue 11): the rest of the claim's life. ----------


class _ClaimPayload(PayloadSchema):
    claim_id = Uuid(required=True)
    enterprise_id = Text(required=True)


@event("buyback", "claim_filed")
class ClaimFiled(_ClaimPayload):
    """The claim is eligible and filed: its ``units`` at their recorded prices (``gross_fen``
    their sum), the park date it was ``received_on`` and the last day of its window."""

    reason = Text(required=True)
    evidence = StrictList(Text(), required=True)
    received_on = IsoDate(required=True)
    window_ends_on = IsoDate(required=True)
    units = StrictList(fields.Nested(SettlementUnitSchema), required=True, min_length=1)
    gross_fen = Fen(required=True)


@event("buyback", "claim_ineligible")
class ClaimIneligible(_ClaimPayload):
    """The claim was refused on receipt; ``reasons`` [{code, message, field}] say why
    (``unknown_enterprise``, ``no_purchased_units``, ``production_not_started``,
    ``window_expired``, ``claim_open``)."""

    reasons = StrictList(fields.Nested(ReasonSchema), required=True, min_length=1)


@event("buyback", "claim_duplicate_refused")
class ClaimDuplicateRefused(_ClaimPayload):
    """A ``buyback_requested`` reused a claim id with other content
    (``conflicting_duplicate``); the original claim is unchanged. ``enterprise_id`` is
    the one the refused request named."""

    reasons = StrictList(fields.Nested(ReasonSchema), required=True, min_length=1)


@event("buyback", "claim_approved")
class ClaimApproved(_ClaimPayload):
    """Every review (``reviews``) approved the claim; ``settlement_requested`` follows."""

    reviews = StrictList(Text(validate=validate.OneOf(["legal", "finance"])), required=True)


@event("buyback", "claim_rejected")
class ClaimRejected(_ClaimPayload):
    """A review rejected the claim (``rejected_by``), with its ``reasons``; it is over."""

    rejected_by = StrictList(
        Text(validate=validate.OneOf(["legal", "finance"])), required=True, min_length=1
    )
    reasons = StrictList(Text(), required=True, min_length=1)


@event("buyback", "claim_closed")
class ClaimClosed(_ClaimPayload):
    """Onboarding released every unit of the settled claim (``units_released`` with its
    ``claim_id``): the buyback is complete."""

    units = StrictList(Text(), required=True, min_length=1)


@event("buyback", "claim_escalated")
class ClaimEscalated(_ClaimPayload):
    """A wait of the claim passed its deadline: ``stage`` ``review`` | ``settlement`` |
    ``release`` | ``netting`` (the last two: the claim is ``stuck``); or onboarding refused
    the release (``release_refused``: ``stuck`` at once); or billing booked other figures
    than the settlement recorded (``netting_mismatch``). ``reason`` for the operator. Once
    per stage."""

    stage = Text(
        required=True,
        validate=validate.OneOf(
            ["review", "settlement", "release", "netting", "release_refused", "netting_mismatch"]
        ),
    )
    reason = Text(required=True)


@event("buyback", "claim_withdrawal_refused")
class ClaimWithdrawalRefused(_ClaimPayload):
    """A ``portal/buyback_withdrawn`` was not taken: ``code`` ``already_settled``,
    ``claim_not_open``, ``unknown_claim`` or ``enterprise_mismatch``, with a ``message``."""

    code = Text(required=True)
    message = Text(required=True)
