"""marshmallow schemas of ticketing's RPC arguments (its events live in
``shared/contract/ticketing.py``, where other services can read them)."""

from marshmallow import Schema, ValidationError, validate, validates_schema

from services.ticketing.domain.tickets import TicketStatus
from services.ticketing.exceptions import InvalidRequest
from shared.contract.envelope import describe
from shared.contract.fields import StrictInteger, Text, UtcDateTime


class TicketLookup(Schema):
    ticket_id = Text(required=True)


class TicketQuery(Schema):
    park_id = Text(load_default=None)
    status = Text(load_default=None, validate=validate.OneOf([s.value for s in TicketStatus]))
    firm_id = Text(load_default=None)
    enterprise_id = Text(load_default=None)
    service_code = Text(load_default=None)
    limit = StrictInteger(load_default=200, minimum=1, maximum=1000)


class FiguresQuery(Schema):
    """A park and a period ``[since, until)`` of ticket openings (UTC, ``…Z``)."""

    park_id = Text(required=True)
    since = UtcDateTime(required=True)
    until = UtcDateTime(required=True)

    @validates_schema
    def period(self, data, **kwargs):
        if "since" in data and "until" in data and data["since"] >= data["until"]:
            raise ValidationError("until must come after since", "until")


def load(schema: type[Schema], **arguments) -> dict:
    """Validate RPC arguments; a bad one is an :class:`InvalidRequest` naming the field."""
    try:
        return schema().load(arguments)
    except ValidationError as error:
        raise InvalidRequest(describe(error)) from None
