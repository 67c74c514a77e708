"""Numbers, dates and times in the contract are ASCII and exactly the documented form:
``\\d`` and ``$`` in a regex also take Arabic-Indic or full-width digits and a trailing
newline, which ``Decimal`` and ``fromisoformat`` then read as if they were valid."""

import pytest
from marshmallow import Schema, ValidationError

from shared.contract.fields import DecimalString, IsoDate, UtcDateTime


class Sample(Schema):
    amount = DecimalString()
    day = IsoDate()
    at = UtcDateTime()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("amount", "١٢"),  # Arabic-Indic digits
        ("amount", "１２.５"),  # full-width digits
        ("amount", "12\n"),
        ("day", "٢٠٢٦-١١-٢٧"),
        ("day", "2026-11-27\n"),
        ("at", "２０２６-11-27T05:40:00Z"),
        ("at", "2026-11-27T05:40:00Z\n"),
    ],
)
def test_a_non_ascii_digit_or_a_trailing_newline_is_refused(field, value):
    with pytest.raises(ValidationError) as refused:
        Sample().load({field: value})
    assert field in refused.value.messages


def test_the_documented_forms_still_load():
    loaded = Sample().load(
        {"amount": "-12.50", "day": "2026-11-27", "at": "2026-11-27T05:40:00.123456Z"}
    )
    assert str(loaded["amount"]) == "-12.50"
    assert loaded["day"].isoformat() == "2026-11-27"
    assert loaded["at"].microsecond == 123456
