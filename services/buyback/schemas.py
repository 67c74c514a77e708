"""marshmallow schemas of buyback's RPC arguments (its events live in
``shared/contract/buyback.py``). Arguments from outside are hostile until loaded here."""

from marshmallow import Schema, ValidationError, validate

from services.buyback.domain.claims import ClaimState
from services.buyback.exceptions import InvalidRequest
from shared.contract.envelope import describe
from shared.contract.fields import IsoDate, StrictInteger, Text, Uuid


class ClaimQuery(Schema):
    state = Text(load_default=None, validate=validate.OneOf([str(s) for s in ClaimState]))
    limit = StrictInteger(load_default=500, minimum=1, maximum=5000)


class ClaimLookup(Schema):
    claim_id = Uuid(required=True)


class Withdrawal(Schema):
    claim_id = Uuid(required=True)
    reason = Text(required=True, max_length=2000)
    operator = Text(required=True, max_length=200)


class ExposureQuery(Schema):
    as_of = IsoDate(load_default=None)


def load(schema: type[Schema], **arguments) -> dict:
    """Validate RPC arguments; a bad one is an :class:`InvalidRequest` naming the field."""
    try:
        return schema().load(arguments)
    except ValidationError as error:
        raise InvalidRequest(describe(error)) from None
