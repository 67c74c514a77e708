"""marshmallow schemas of onboarding's RPC arguments (its events live in
``shared/contract/onboarding.py``, where other services can read them)."""

from marshmallow import Schema, ValidationError, fields, validate

from services.onboarding.exceptions import InvalidRequest
from shared.contract.envelope import describe
from shared.contract.fields import IsoDate, StrictBoolean, StrictInteger, StrictList, Text


class ProductionStart(Schema):
    enterprise_id = Text(required=True)
    started_on = IsoDate(required=True)


class Withdrawal(Schema):
    application_id = Text(required=True)
    reason = Text(required=True)


class LeaseEnd(Schema):
    enterprise_id = Text(required=True)
    unit_ids = StrictList(Text(), required=True, min_length=1)


class OfficerReassignment(Schema):
    enterprise_id = Text(required=True)
    officer_id = Text(required=True)


VISIT_ID_MAX = 64  # the width of service_visits.visit_id


class ServiceVisit(Schema):
    enterprise_id = Text(required=True)
    officer_id = Text(required=True)
    visited_on = IsoDate(required=True)
    note = fields.String(required=True)
    visit_id = Text(load_default=None, validate=validate.Length(max=VISIT_ID_MAX))


class UnitQuery(Schema):
    park_id = Text(required=True)
    status = Text(
        load_default=None, validate=validate.OneOf(["available", "reserved", "sold", "leased"])
    )
    building = Text(load_default=None)


class ApplicationQuery(Schema):
    status = Text(
        load_default=None,
        validate=validate.OneOf(["under_review", "admitted", "rejected", "suspended", "withdrawn"]),
    )
    park_id = Text(load_default=None)
    overdue_only = StrictBoolean(load_default=False)
    limit = StrictInteger(load_default=200, minimum=1, maximum=1000)


class OfficerWorkload(Schema):
    park_id = Text(required=True)


def load(schema: type[Schema], **arguments) -> dict:
    """Validate RPC arguments; a bad one is an :class:`InvalidRequest` naming the field."""
    try:
        return schema().load(arguments)
    except ValidationError as error:
        raise InvalidRequest(describe(error)) from None
