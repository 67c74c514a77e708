"""A total decoder for the AMQP content header (a message's properties and headers).

py-amqp decodes the content header inside the connection's frame reader, before any
consumer code runs, and raises on bytes it cannot read: a non-UTF-8 ``message_id``,
``type`` or ``app_id`` (``UnicodeDecodeError``), a header timestamp of 2^62 (``OSError``;
2^40: ``ValueError``), headers nested a thousand deep (``RecursionError``). kombu takes
some of these for a lost connection and reconnects forever; the others kill the consumer
thread, and the unacked message then goes to the next instance.

:func:`decode_basic_properties` never raises. What it cannot decode it leaves out and
describes under the :data:`UNDECODABLE` key of the properties (a key no AMQP property
has), so the consumer dead-letters the message with that reason and republishes only
what was readable. :func:`install` puts it in py-amqp's place, for the whole process.
Well-formed headers decode exactly as py-amqp decodes them (its own reader runs first).

The method frame that carries a message is decoded strictly too: ``basic.deliver``,
``basic.get-ok`` and ``basic.return`` name the exchange and the routing key the
publisher chose, and RabbitMQ passes any bytes on. A routing key of ``b"\\xff-key"``
published on an events exchange reaches ``park.unrouted`` through the alternate
exchange, and py-amqp's ``UnicodeDecodeError`` then broke every walk of that queue
(``park unrouted list``, even ``purge --all``). :func:`install` also makes the decoding
of those three methods' arguments total: a short string that is not valid UTF-8 (lone
surrogates included) becomes a marker — its bytes written out as ``\\xff`` escapes, cut
to fit a short string — and the reason (``routing_key is not valid UTF-8``) joins the
message's :data:`UNDECODABLE` reasons, which the consumer dead-letters with and a
letter queue shows (such a letter is purged, never replayed).
"""

from datetime import UTC, datetime
from struct import calcsize, unpack_from
from typing import Any

from amqp import serialization
from amqp.channel import Channel
from amqp.spec import Basic

UNDECODABLE = "x-park-undecodable"  # in the properties: reasons, as a tuple of str
MAX_HEADER_DEPTH = 16  # levels of nested tables and arrays in the headers
MAX_SHORT_STRING = 255  # bytes

# The methods that carry a message, and the names of their arguments (py-amqp's formats).
_MESSAGE_METHODS = {
    Basic.Deliver: ("consumer_tag", "delivery_tag", "redelivered", "exchange", "routing_key"),
    Basic.GetOk: ("delivery_tag", "redelivered", "exchange", "routing_key", "message_count"),
    Basic.Return: ("reply_code", "reply_text", "exchange", "routing_key"),
}

# (flag bit, property name) of the short-string properties, in wire order; the others
# (headers, delivery_mode, priority, timestamp) are handled in place.
_SHORT_STRINGS_BEFORE_HEADERS = ((0x8000, "content_type"), (0x4000, "content_encoding"))
_SHORT_STRINGS_AFTER_PRIORITY = (
    (0x0400, "correlation_id"),
    (0x0200, "reply_to"),
    (0x0100, "expiration"),
    (0x0080, "message_id"),
)
_SHORT_STRINGS_AFTER_TIMESTAMP = (
    (0x0020, "type"),
    (0x0010, "user_id"),
    (0x0008, "app_id"),
    (0x0004, "cluster_id"),
)


class _Reader:
    """Reads one content header, collecting problems instead of raising."""

    def __init__(self, buf, offset: int):
        self.buf, self.offset = buf, offset
        self.problems: list[str] = []

    def octet(self) -> int:
        (value,) = unpack_from(">B", self.buf, self.offset)
        self.offset += 1
        return value

    def short_string(self, name: str) -> str | None:
        length = self.octet()
        raw = bytes(self.buf[self.offset : self.offset + length])
        self.offset += length
        if len(raw) != length:
            raise ValueError("truncated")
        try:
            return raw.decode("utf-8")  # strict: no lone surrogates either
        except UnicodeDecodeError:
            self.problems.append(f"property {name} is not valid UTF-8")
            return None

    def headers(self) -> dict:
        try:
            (table,), self.offset = serialization.loads("F", self.buf, self.offset)
            return table
        except Exception:  # RecursionError, OSError, ValueError, OverflowError, …
            return self._table("headers", 0)

    def _table(self, path: str, depth: int) -> dict:
        (length,) = unpack_from(">I", self.buf, self.offset)
        self.offset += 4
        end = self.offset + length
        table: dict = {}
        if depth >= MAX_HEADER_DEPTH:
            self.problems.append(f"{path}: nested deeper than {MAX_HEADER_DEPTH} levels")
        else:
            try:
                while self.offset < end:
                    key_length = self.octet()
                    raw_key = bytes(self.buf[self.offset : self.offset + key_length])
                    self.offset += key_length
                    key = raw_key.decode("utf-8", "backslashreplace")
                    found, value = self._item(f"{path}.{key}", depth)
                    if found:
                        table[key] = value
            except Exception:  # an unknown type letter, a length past the end
                self.problems.append(f"{path}: cannot be decoded")
        self.offset = end
        return table

    def _array(self, path: str, depth: int) -> list:
        (length,) = unpack_from(">I", self.buf, self.offset)
        self.offset += 4
        end = self.offset + length
        items: list = []
        if depth >= MAX_HEADER_DEPTH:
            self.problems.append(f"{path}: nested deeper than {MAX_HEADER_DEPTH} levels")
        else:
            try:
                while self.offset < end:
                    found, value = self._item(f"{path}[{len(items)}]", depth)
                    if found:
                        items.append(value)
            except Exception:
                self.problems.append(f"{path}: cannot be decoded")
        self.offset = end
        return items

    def _item(self, path: str, depth: int) -> tuple[bool, Any]:
        """(decoded?, value) of one table or array item; the offset always moves past it."""
        kind = chr(self.buf[self.offset])
        if kind == "F":
            self.offset += 1
            return True, self._table(path, depth + 1)
        if kind == "A":
            self.offset += 1
            return True, self._array(path, depth + 1)
        if kind == "T":
            (stamp,) = unpack_from(">Q", self.buf, self.offset + 1)
            self.offset += 9
            try:
                return True, datetime.fromtimestamp(stamp, tz=UTC).replace(tzinfo=None)
            except (OverflowError, OSError, ValueError):
                self.problems.append(f"{path}: timestamp {stamp} is out of range")
                return False, None
        value, self.offset = serialization._read_item(self.buf, self.offset)  # flat types
        return True, value


def _decode(buf, offset: int) -> dict[str, Any]:
    reader = _Reader(buf, offset)
    properties: dict[str, Any] = {}
    (flags,) = unpack_from(">H", buf, reader.offset)
    reader.offset += 2

    def strings(pairs) -> None:
        for bit, name in pairs:
            if flags & bit and (value := reader.short_string(name)) is not None:
                properties[name] = value

    strings(_SHORT_STRINGS_BEFORE_HEADERS)
    if flags & 0x2000:
        properties["application_headers"] = reader.headers()
    if flags & 0x1000:
        properties["delivery_mode"] = reader.octet()
    if flags & 0x0800:
        properties["priority"] = reader.octet()
    strings(_SHORT_STRINGS_AFTER_PRIORITY)
    if flags & 0x0040:
        (properties["timestamp"],) = unpack_from(">Q", buf, reader.offset)
        reader.offset += 8
    strings(_SHORT_STRINGS_AFTER_TIMESTAMP)
    if reader.problems:
        properties[UNDECODABLE] = tuple(reader.problems)
    return properties


def decode_basic_properties(buf, offset: int) -> tuple[dict[str, Any], int]:
    """py-amqp's ``decode_properties_basic``, total. (py-amqp ignores the offset returned.)"""
    try:
        return _decode(buf, offset), offset
    except Exception as error:  # truncated or garbled beyond reading: keep nothing
        reason = f"content header cannot be decoded ({type(error).__name__})"
        return {UNDECODABLE: (reason,)}, offset


def undecodable_marker(raw: bytes) -> str:
    """What stands for a short string that is not valid UTF-8: its bytes, non-ASCII ones
    as ``\\xNN`` escapes, cut to fit a short string."""
    text = raw.decode("utf-8", "backslashreplace")
    return text.encode("utf-8")[:MAX_SHORT_STRING].decode("utf-8", "ignore")  # a whole char


def readable_arguments(method_sig, payload: bytes) -> tuple[bytes, list[str]]:
    """The method frame ``payload`` of a message-carrying method, with every short string
    that is not valid UTF-8 replaced by its :func:`undecodable_marker`, and why; the
    payload unchanged (and no reasons) if all are valid. Never raises: a frame it cannot
    read at all (truncated: only a broken broker sends one) goes on as it came."""
    fmt = Channel._METHODS[method_sig].args
    try:
        values, end = _raw_arguments(fmt, payload, 4)
    except Exception:
        return payload, []
    problems, decoded = [], []
    for kind, name, value in zip(fmt, _MESSAGE_METHODS[method_sig], values, strict=True):
        if kind == "s":
            try:
                value = value.decode("utf-8")  # strict: no lone surrogates either
            except UnicodeDecodeError:
                problems.append(f"{name} is not valid UTF-8")
                value = undecodable_marker(value)
        decoded.append(value)
    if not problems:
        return payload, []
    return bytes(payload[:4]) + serialization.dumps(fmt, decoded) + bytes(payload[end:]), problems


_FIXED = {"o": ">B", "B": ">H", "l": ">I", "L": ">Q"}


def _raw_arguments(fmt: str, buf, offset: int) -> tuple[list, int]:
    """py-amqp's ``loads`` for the types these methods use, short strings left as bytes."""
    values: list = []
    bits = bit_count = 0
    for kind in fmt:
        if kind == "b":
            if not bit_count:
                bits, bit_count = buf[offset], 8
                offset += 1
            values.append(bool(bits & 1))
            bits, bit_count = bits >> 1, bit_count - 1
            continue
        bits = bit_count = 0
        if kind == "s":
            length = buf[offset]
            value = bytes(buf[offset + 1 : offset + 1 + length])
            if len(value) != length:
                raise ValueError("truncated")
            values.append(value)
            offset += 1 + length
        else:
            (value,) = unpack_from(_FIXED[kind], buf, offset)
            values.append(value)
            offset += calcsize(_FIXED[kind])
    return values, offset


_py_amqp_dispatch_method = Channel.dispatch_method


def _dispatch_method(self, method_sig, payload, content):
    """py-amqp's ``Channel.dispatch_method``, with the arguments of the methods that
    carry a message made readable first (:func:`readable_arguments`)."""
    if method_sig in _MESSAGE_METHODS and content is not None:
        payload, problems = readable_arguments(method_sig, payload)
        if problems:
            properties = content.properties
            properties[UNDECODABLE] = (*properties.get(UNDECODABLE, ()), *problems)
    return _py_amqp_dispatch_method(self, method_sig, payload, content)


def install() -> None:
    """Make every py-amqp connection of this process decode properties with
    :func:`decode_basic_properties`, and the arguments of ``basic.deliver``,
    ``basic.get-ok`` and ``basic.return`` totally (idempotent)."""
    serialization.PROPERTY_CLASSES[Basic.CLASS_ID] = decode_basic_properties
    Channel.dispatch_method = _dispatch_method
