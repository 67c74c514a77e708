"""marshmallow schemas of buyback's RPC arguments (its events live in
``shared/contract/buyback.py``). Arguments from outside are hostile until loaded here."""

import re

from marshmallow import Schema, ValidationError, validate

from services.buyback.domain.claims import ClaimState
from services.buyback.exceptions import InvalidRequest
from shared.contract.envelope import describe
from shared.contract.fields import IsoDate, StrictInteger, Text, Uuid

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class ClaimQuery(Schema):
    state = Text(load_default=None, validate=validate.OneOf([str(s) for s in ClaimState]))
    limit = StrictInteger(load_default=500, minimum=1, maximum=5000)
    before = Uuid(load_default=None)


class ClaimLookup(Schema):
    claim_id = Uuid(required=True)


class Withdrawal(Schema):
    claim_id = Uuid(required=True)
    reason = Text(required=True, max_length=2000)
    operator = Text(required=True, max_length=200)


class ExposureQuery(Schema):
    park_id = Text(load_default=None, max_length=100)
    as_of = IsoDate(load_default=None)


def exposure_arguments(park_id, as_of) -> dict:
    """``exposure_report(park_id, as_of=None)``; the older shape ``exposure_report(as_of)``
    (a date where the park id goes, no ``as_of``) still works: no park id then. Park ids
    are slugs (``aux-shangjie``), never a ``YYYY-MM-DD`` date."""
    if as_of is None and isinstance(park_id, str) and _DATE.fullmatch(park_id):
        park_id, as_of = None, park_id
    return load(ExposureQuery, park_id=park_id, as_of=as_of)


def load(schema: type[Schema], **arguments) -> dict:
    """Validate RPC arguments; a bad one is an :class:`InvalidRequest` naming the field."""
    try:
        return schema().load(arguments)
    except ValidationError as error:
        raise InvalidRequest(describe(error)) from None
