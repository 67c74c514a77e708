"""Events the buyback service publishes on ``buyback.events`` that others consume today.

The buyback service itself arrives with its own issue; ``claim_settled`` is registered
now because onboarding already releases the units of a settled claim.
"""

from shared.contract.fields import StrictList, Text, Uuid
from shared.contract.registry import PayloadSchema, event


@event("buyback", "claim_settled")
class ClaimSettled(PayloadSchema):
    """The park owner bought the enterprise's units back: they return to inventory."""

    claim_id = Uuid(required=True)
    enterprise_id = Text(required=True)
    units = StrictList(Text(), required=True, min_length=1)
