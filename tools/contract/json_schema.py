"""JSON Schema (draft-07, the dialect AsyncAPI 3.0 schemas default to) of the contract's
marshmallow schemas.

A small converter rather than a general one: it knows the project's own strict fields
(``shared/contract/fields.py``) and the few marshmallow validators the contract uses, and
refuses anything else (:class:`UnsupportedField`), so a new kind of field cannot slip into
the catalogue as an empty, accept-anything schema.

What JSON Schema cannot say is left to the contract: the cross-field rules of a schema's
``@validates_schema`` (a VAT split, sums of lines, which ids an origin carries), the
numeric bounds of a decimal *string*, and ``Text``'s "not only whitespace" (approximated
by the pattern ``\\S``). Those stay in the descriptions; the contract is the authority.
"""

from typing import Any

from marshmallow import Schema, fields, validate

from shared.contract.envelope import JsonObject
from shared.contract.fields import (
    _DATE_PATTERN,
    _DECIMAL_PATTERN,
    _UTC_PATTERN,
    DECIMAL_MAX_LENGTH,
    DecimalString,
    Fen,
    IsoDate,
    StrictBoolean,
    StrictInteger,
    StrictList,
    Text,
    UtcDateTime,
    Uuid,
)
from shared.contract.ticketing import FreeText

JsonSchema = dict[str, Any]

# A canonical UUID, as the contract writes one (it reads any form uuid.UUID takes).
UUID_PATTERN = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


# JSON Schema's "integer" also matches 12.0 (a number with a zero fraction); the contract
# reads 12.0 as a float and refuses it. The schema cannot say so: the description does.
INTEGER_FORM = "a JSON integer written without a fraction or exponent (12.0 is invalid)"


# Contract text holds no NUL (PostgreSQL cannot store one). Lone surrogates, refused too,
# are left out: a pattern for them reads differently in JSON Schema's regex dialects.
NUL = {"type": "string", "pattern": "\\u0000"}


class UnsupportedField(TypeError):
    """A marshmallow field or validator this converter has no JSON Schema for."""


def schema_of(schema: Schema | type[Schema], *, title: str | None = None) -> JsonSchema:
    """The JSON Schema of an object described by a marshmallow schema (class or instance).

    Required fields are ``required``; fields with a load default are optional. Unknown
    properties are allowed: readers tolerate fields a publisher added (DESIGN §3), though
    the publisher's own side refuses fields its schema does not have.
    """
    instance = schema() if isinstance(schema, type) else schema
    described: JsonSchema = {"type": "object"}
    if title:
        described["title"] = title
    if doc := _docstring(type(instance)):
        described["description"] = doc
    described["properties"] = {
        name: field_schema(field, f"{type(instance).__name__}.{name}")
        for name, field in instance.fields.items()
    }
    required = [name for name, field in instance.fields.items() if field.required]
    if required:
        described["required"] = required
    return described


def field_schema(field: fields.Field, where: str) -> JsonSchema:
    """The JSON Schema of one field; ``where`` names it in an :class:`UnsupportedField`."""
    described = _base(field, where)
    for validator in field.validators:
        _apply(validator, described, where)
    if field.allow_none:
        described = _nullable(described)
    return described


def _base(field: fields.Field, where: str) -> JsonSchema:
    # Most specific first: JsonObject is a Text, StrictInteger a Fen, Text a String.
    if isinstance(field, JsonObject):
        return {"type": "object"}
    if isinstance(field, Uuid):
        return {"type": "string", "format": "uuid", "pattern": UUID_PATTERN}
    if isinstance(field, UtcDateTime):
        return {
            "type": "string",
            "format": "date-time",
            "pattern": f"^{_UTC_PATTERN.pattern}$",
            "description": "UTC, written with Z",
        }
    if isinstance(field, IsoDate):
        return {"type": "string", "format": "date", "pattern": f"^{_DATE_PATTERN.pattern}$"}
    if isinstance(field, DecimalString):
        return {
            "type": "string",
            "pattern": f"^{_DECIMAL_PATTERN.pattern}$",
            "maxLength": DECIMAL_MAX_LENGTH,
            "description": _decimal_description(field),
        }
    if isinstance(field, StrictInteger):  # bounds come from its Range validator
        return {"type": "integer", "description": INTEGER_FORM}
    if isinstance(field, Fen):
        return {"type": "integer", "description": f"money in integer fen (分); {INTEGER_FORM}"}
    if isinstance(field, StrictBoolean):
        return {"type": "boolean"}
    if isinstance(field, Text):
        described: JsonSchema = {"type": "string", "maxLength": field.max_length, "not": NUL}
        if not field.allow_empty:
            described |= {"minLength": 1, "pattern": r"\S"}
        return described
    if isinstance(field, fields.Nested):
        return schema_of(field.schema)
    if type(field) in (StrictList, fields.List):
        return {"type": "array", "items": field_schema(field.inner, f"{where}[]")}
    if isinstance(field, FreeText):
        return {"type": "string", "maxLength": field.max_length, "not": NUL}
    if type(field) is fields.String:
        return {"type": "string"}
    raise UnsupportedField(f"{where}: no JSON Schema for field {type(field).__name__}")


def _decimal_description(field: DecimalString) -> str:
    bounds = []
    if field.minimum is not None:
        bounds.append(f"≥ {field.minimum}")
    if field.maximum is not None:
        bounds.append(f"≤ {field.maximum}")
    text = 'a decimal number as a JSON string, e.g. "0.09"'
    return f"{text}, {' and '.join(bounds)}" if bounds else text


def _apply(validator: Any, described: JsonSchema, where: str) -> None:
    if isinstance(validator, validate.OneOf):
        described["enum"] = list(validator.choices)
        for implied in ("minLength", "pattern"):  # the choices say it all
            described.pop(implied, None)
    elif isinstance(validator, validate.Range):
        if validator.min is not None:
            key = "minimum" if validator.min_inclusive else "exclusiveMinimum"
            described[key] = validator.min
        if validator.max is not None:
            key = "maximum" if validator.max_inclusive else "exclusiveMaximum"
            described[key] = validator.max
    elif isinstance(validator, validate.Length) and described.get("type") == "array":
        if validator.equal is not None:
            described["minItems"] = described["maxItems"] = validator.equal
        else:
            if validator.min is not None:
                described["minItems"] = validator.min
            if validator.max is not None:
                described["maxItems"] = validator.max
    elif isinstance(validator, validate.Regexp):
        pattern = validator.regex.pattern
        # marshmallow matches at the start only; the contract's patterns anchor both ends.
        described["pattern"] = pattern if pattern.startswith("^") else f"^{pattern}"
    else:
        raise UnsupportedField(f"{where}: no JSON Schema for validator {type(validator).__name__}")


def _nullable(described: JsonSchema) -> JsonSchema:
    kind = described.get("type")
    if isinstance(kind, str) and kind != "object":
        nullable = dict(described, type=[kind, "null"])
        if "enum" in nullable:
            nullable["enum"] = [*nullable["enum"], None]
        return nullable
    return {"anyOf": [described, {"type": "null"}]}


def _docstring(cls: type) -> str:
    doc = cls.__dict__.get("__doc__") or ""
    return " ".join(doc.split())
