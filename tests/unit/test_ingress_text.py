"""Free text in the ingress events (a department's reason, a ticket's description or
comment, a bank reference, a firm's note) is the project's ``Text``: valid text, at most
10,000 characters — and may be empty, as the contract always allowed (an approval
without a reason: ``"reason": ""``)."""

import pytest
from marshmallow import ValidationError, fields

import shared.contract.ingress  # noqa: F401  (fills the registry)
from shared.contract import REGISTRY
from shared.contract.fields import TEXT_MAX_LENGTH, Text

INGRESS_SPECS = [s for s in REGISTRY if s.schema_class.__module__ == "shared.contract.ingress"]
# (source, type, field) of the free-text fields that may be empty.
MAY_BE_EMPTY = [
    ("gov", "review_decided", "reason"),
    ("portal", "service_requested", "description"),
    ("portal", "ticket_rated", "comment"),
    ("bank", "payment_received", "reference"),
    *[
        ("firms", type_, "note")
        for type_ in ("work_accepted", "work_declined", "work_progressed", "work_completed")
    ],
]


def field_of(source: str, type_: str, name: str) -> fields.Field:
    [spec] = [s for s in INGRESS_SPECS if (s.key.source, s.key.type) == (source, type_)]
    return spec.schema().fields[name]


def all_fields(schema) -> list[tuple[str, fields.Field]]:
    """Every field of ``schema``, nested schemas and list items included."""
    found = []
    for name, field in schema.fields.items():
        found.append((name, field))
        if isinstance(field, fields.Nested):
            found += [(f"{name}.{n}", f) for n, f in all_fields(field.schema)]
        if isinstance(field, fields.List):
            found.append((f"{name}[]", field.inner))
    return found


def test_no_ingress_schema_has_a_bare_string_field():
    bare = [
        f"{spec.key}: {name}"
        for spec in INGRESS_SPECS
        for name, field in all_fields(spec.schema())
        if isinstance(field, fields.String) and not isinstance(field, Text)
    ]

    assert INGRESS_SPECS and bare == []


@pytest.mark.parametrize(("source", "type_", "name"), MAY_BE_EMPTY)
def test_free_text_is_bounded_and_may_still_be_empty(source, type_, name):
    field = field_of(source, type_, name)

    assert field.deserialize("") == ""
    assert field.deserialize("x" * TEXT_MAX_LENGTH) == "x" * TEXT_MAX_LENGTH
    with pytest.raises(ValidationError, match="Longer than 10000 characters"):
        field.deserialize("x" * (TEXT_MAX_LENGTH + 1))
    with pytest.raises(ValidationError):
        field.deserialize("a\x00b")
