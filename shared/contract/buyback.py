"""Events the buyback service publishes on ``buyback.events`` that others consume today.

The buyback service itself arrives with its own issue; ``claim_settled`` is registered
now because onboarding already releases the units of a settled claim, and
``claim_review_requested`` / ``claim_withdrawn`` because ticketing opens and cancels the
claim's legal and finance review tickets.
"""

from marshmallow import validate

from shared.contract.fields import StrictList, Text, Uuid
from shared.contract.registry import PayloadSchema, event


@event("buyback", "claim_settled")
class ClaimSettled(PayloadSchema):
    """The park owner bought the enterprise's units back: they return to inventory."""

    claim_id = Uuid(required=True)
    enterprise_id = Text(required=True)
    units = StrictList(Text(), required=True, min_length=1)


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
