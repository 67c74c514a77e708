"""Strict marshmallow fields for the event contract (DESIGN §3).

marshmallow's own fields are lenient in ways a money system cannot afford:
``Integer()`` turns ``12.5`` into ``12`` and accepts ``"12"``, ``Boolean()`` accepts
``"yes"``, ``DateTime()`` accepts naive times. These fields accept exactly one JSON
type each and fail with a message that says what was expected.
"""

import re
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation

from marshmallow import ValidationError, fields, validate

# ASCII digits only, matched whole (fullmatch): \d also takes Arabic-Indic and full-width
# digits, and $ a trailing newline, which Decimal() and fromisoformat() then accept.
_UTC_PATTERN = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?Z")
_DATE_PATTERN = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DECIMAL_PATTERN = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_SURROGATE = re.compile("[\ud800-\udfff]")
TEXT_MAX_LENGTH = 10_000  # characters of one text field, unless the field says otherwise
#: The largest amount (and count) the contract takes, either sign: ten trillion yuan in
#: fen. No single amount in a park comes near it, and sums of thousands of them still fit
#: a database BIGINT (2^63 − 1) — so an absurd amount is refused when parsed, with its
#: field named, not an overflow in a database that the retry ladder would try for hours.
MAX_FEN = 10**15
#: The longest decimal string (characters): every column that keeps one holds 40.
DECIMAL_MAX_LENGTH = 40
#: The largest cumulative meter reading (m³ or kWh) taken: beyond any meter's register,
#: and times any tariff still an amount under :data:`MAX_FEN`.
MAX_METER_READING = Decimal(10**12)


def text_problem(text: str) -> str | None:
    """Why ``text`` is not valid contract text, or None.

    JSON can carry a NUL character and a lone UTF-16 surrogate (``"\\ud800"``); neither
    can be stored (PostgreSQL refuses NUL) or even encoded as UTF-8. Let through, they
    fail later as if the failure were transient and climb the whole retry ladder.
    """
    if "\x00" in text:
        return "Must not contain a NUL character."
    if _SURROGATE.search(text):
        return "Must be valid Unicode text (contains a lone surrogate)."
    return None


def text_errors(value, *, max_depth: int = 64) -> dict | list | None:
    """Every invalid string (value or mapping key, at any depth) in a JSON document.

    Returns marshmallow-shaped error messages (``{"enterprise": {"name": [why]}}``, list
    items by index) or None when every string is valid text.
    """
    if max_depth < 0:
        return ["Nested too deeply."]
    if isinstance(value, str):
        problem = text_problem(value)
        return [problem] if problem else None
    if isinstance(value, dict):
        found: dict = {}
        for key, item in value.items():
            key_problem = text_problem(key) if isinstance(key, str) else None
            if key_problem:
                found[_printable(key)] = [f"Key: {key_problem}"]
            elif (errors := text_errors(item, max_depth=max_depth - 1)) is not None:
                found[key] = errors
        return found or None
    if isinstance(value, list):
        found = {
            index: errors
            for index, item in enumerate(value)
            if (errors := text_errors(item, max_depth=max_depth - 1)) is not None
        }
        return found or None
    return None


def _printable(text: str) -> str:
    """A key safe to put in an error message (the reason must itself be valid text)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


def utc_iso(instant: datetime) -> str:
    """Format an aware datetime as the contract's UTC text, ``2026-11-27T05:40:00Z``."""
    if instant.tzinfo is None:
        raise ValueError(f"naive datetime {instant!r}: the contract needs an aware time")
    text = instant.astimezone(UTC).isoformat()
    return text.removesuffix("+00:00") + "Z"


class Fen(fields.Integer):
    """An amount of money in integer fen: a JSON integer, never ``12.5`` nor ``"12"``;
    from ``minimum`` (default 0) to ``maximum``, and never beyond ±:data:`MAX_FEN`
    (``None`` means that bound)."""

    def __init__(self, *, minimum: int | None = 0, maximum: int | None = None, **kwargs):
        validators = list(kwargs.pop("validate", []) or [])
        validators.append(
            validate.Range(
                min=-MAX_FEN if minimum is None else max(minimum, -MAX_FEN),
                max=MAX_FEN if maximum is None else min(maximum, MAX_FEN),
            )
        )
        super().__init__(strict=True, validate=validators, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)

    def _serialize(self, value, attr, obj, **kwargs):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValidationError(f"{attr} must be an int amount of fen, not {value!r}")
        return value


class StrictInteger(Fen):
    """A JSON integer (a count, a score, a version): the same strictness as money."""

    def __init__(self, *, minimum: int | None = None, maximum: int | None = None, **kwargs):
        super().__init__(minimum=minimum, maximum=maximum, **kwargs)


class StrictBoolean(fields.Field):
    """JSON ``true`` or ``false`` only."""

    default_error_messages = {"invalid": "Not a boolean: expected true or false."}

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class Text(fields.String):
    """A non-empty JSON string of valid text (surrounding whitespace does not count as
    content; NUL characters and lone surrogates are refused), at most ``max_length``
    characters. ``allow_empty=True``: free text that may be empty or blank (a reason
    given with an approval), still valid text and bounded."""

    def __init__(self, *, max_length: int = TEXT_MAX_LENGTH, allow_empty: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.max_length = max_length
        self.allow_empty = allow_empty

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if problem := text_problem(text):
            raise ValidationError(problem)
        if not text.strip() and not self.allow_empty:
            raise ValidationError("Must not be empty.")
        if len(text) > self.max_length:
            raise ValidationError(f"Longer than {self.max_length} characters.")
        return text


class UtcDateTime(fields.Field):
    """An instant in UTC written with ``Z``: naive times and other offsets are invalid."""

    default_error_messages = {
        "invalid": "Not a UTC time: expected YYYY-MM-DDTHH:MM:SS[.ffffff]Z.",
    }

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str) or not _UTC_PATTERN.fullmatch(value):
            raise self.make_error("invalid")
        try:
            return datetime.fromisoformat(value[:-1]).replace(tzinfo=UTC)
        except ValueError:
            raise self.make_error("invalid") from None

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        if isinstance(value, str):
            return value
        return utc_iso(value)


class IsoDate(fields.Field):
    """A calendar date, ``YYYY-MM-DD``."""

    default_error_messages = {"invalid": "Not a date: expected YYYY-MM-DD."}

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str) or not _DATE_PATTERN.fullmatch(value):
            raise self.make_error("invalid")
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise self.make_error("invalid") from None

    def _serialize(self, value, attr, obj, **kwargs):
        return value.isoformat() if isinstance(value, date) else value


class DecimalString(fields.Field):
    """A decimal number written as a JSON string (``"0.09"``, ``"12345.6"``), never a float;
    at most :data:`DECIMAL_MAX_LENGTH` characters."""

    default_error_messages = {
        "invalid": 'Not a decimal string such as "0.09".',
        "too_long": f"Longer than {DECIMAL_MAX_LENGTH} characters.",
    }

    def __init__(self, *, minimum: Decimal | None = None, maximum: Decimal | None = None, **kw):
        super().__init__(**kw)
        self.minimum, self.maximum = minimum, maximum

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise self.make_error("invalid")
        if len(value) > DECIMAL_MAX_LENGTH:
            raise self.make_error("too_long")
        if not _DECIMAL_PATTERN.fullmatch(value):
            raise self.make_error("invalid")
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise self.make_error("invalid") from None
        if self.minimum is not None and number < self.minimum:
            raise ValidationError(f"Must be at least {self.minimum}.")
        if self.maximum is not None and number > self.maximum:
            raise ValidationError(f"Must be at most {self.maximum}.")
        return number

    def _serialize(self, value, attr, obj, **kwargs):
        return str(value) if isinstance(value, Decimal | int) else value


class Rate(DecimalString):
    """A tax or fee rate as a decimal string in [0, 1], e.g. ``"0.09"``."""

    def __init__(self, **kwargs):
        super().__init__(minimum=Decimal(0), maximum=Decimal(1), **kwargs)


class Uuid(fields.Field):
    """A UUID in its canonical text form, kept as a lower-case ``str``."""

    default_error_messages = {"invalid": "Not a UUID."}

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise self.make_error("invalid")
        try:
            return str(uuid.UUID(value))
        except ValueError:
            raise self.make_error("invalid") from None

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else str(value)


class StrictList(fields.List):
    """A JSON array (marshmallow's ``List`` already refuses strings; this names the rule)."""

    def __init__(self, inner, *, min_length: int = 0, **kwargs):
        validators = list(kwargs.pop("validate", []) or [])
        if min_length:
            validators.append(validate.Length(min=min_length))
        super().__init__(inner, validate=validators, **kwargs)
