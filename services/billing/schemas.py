"""marshmallow schemas of billing's RPC arguments (its events live in
``shared/contract/billing.py``, where other services can read them)."""

from marshmallow import Schema, ValidationError, validate

from services.billing.exceptions import InvalidRequest
from shared.contract.envelope import describe
from shared.contract.fields import Fen, IsoDate, StrictInteger, Text, UtcDateTime

MONTH = validate.Regexp(r"^[0-9]{4}-(0[1-9]|1[0-2])$", error="A month is YYYY-MM.")


class EnterpriseLookup(Schema):
    enterprise_id = Text(required=True)


class StatementQuery(Schema):
    enterprise_id = Text(required=True)
    month = Text(required=True, validate=MONTH)


class AgingQuery(Schema):
    park_id = Text(required=True)
    as_of = IsoDate(required=True)


class RevenueQuery(Schema):
    park_id = Text(required=True)
    year = StrictInteger(required=True, minimum=2000, maximum=9999)


class MatchPayment(Schema):
    bank_txn_id = Text(required=True)
    enterprise_id = Text(required=True)
    operator = Text(required=True)
    reason = Text(required=True)


class WaiveLateFee(Schema):
    invoice_id = Text(required=True)
    operator = Text(required=True, max_length=200)
    reason = Text(required=True, max_length=500)  # what late_fee_waived carries


class CreditNote(Schema):
    invoice_id = Text(required=True)
    amount_fen = Fen(required=True, minimum=1)
    reason = Text(required=True)
    operator = Text(required=True)


class RebaselineMeter(Schema):
    meter_id = Text(required=True, max_length=200)
    reading = Text(required=True, max_length=40)  # a decimal string: the domain checks it
    operator = Text(required=True, max_length=200)
    reason = Text(required=True, max_length=500)
    read_at = UtcDateTime(load_default=None, allow_none=True)


class CycleRun(Schema):
    on = IsoDate(load_default=None, allow_none=True)


def load(schema: type[Schema], **arguments) -> dict:
    """Validate RPC arguments; a bad one is an :class:`InvalidRequest` naming the field."""
    try:
        return schema().load(arguments)
    except ValidationError as error:
        raise InvalidRequest(describe(error)) from None
