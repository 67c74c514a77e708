"""Publish messages whose AMQP properties are arbitrary bytes (py-amqp's encoder would
refuse or fix some of them), to test what a consumer does with hostile content headers.

``content_header(...)`` builds the property flags and list of a ``basic`` content header
byte by byte; ``RawPublisher`` sends a body with it, with publisher confirms.
"""

from struct import pack

import amqp

from shared.messaging.amqp_client import BrokerAddress

# (flag bit, name, wire type) of basic's properties, in wire order.
_PROPERTIES = (
    (0x8000, "content_type", "s"),
    (0x4000, "content_encoding", "s"),
    (0x2000, "headers", "F"),
    (0x1000, "delivery_mode", "o"),
    (0x0800, "priority", "o"),
    (0x0400, "correlation_id", "s"),
    (0x0200, "reply_to", "s"),
    (0x0100, "expiration", "s"),
    (0x0080, "message_id", "s"),
    (0x0040, "timestamp", "T"),
    (0x0020, "type", "s"),
    (0x0010, "user_id", "s"),
    (0x0008, "app_id", "s"),
    (0x0004, "cluster_id", "s"),
)


def _bytes(value: bytes | str) -> bytes:
    return value.encode("utf-8", "surrogatepass") if isinstance(value, str) else value


def short_string(value: bytes | str) -> bytes:
    raw = _bytes(value)
    return pack(">B", len(raw)) + raw


def table(*items: tuple[bytes | str, bytes]) -> bytes:
    """An AMQP field table from ``(key, encoded item)`` pairs (see the ``item_*`` helpers)."""
    data = b"".join(short_string(key) + item for key, item in items)
    return pack(">I", len(data)) + data


def item_string(value: bytes | str) -> bytes:
    raw = _bytes(value)
    return b"S" + pack(">I", len(raw)) + raw


def item_int(value: int) -> bytes:
    return b"l" + pack(">q", value)


def item_timestamp(seconds: int) -> bytes:
    return b"T" + pack(">Q", seconds)


def item_table(*items: tuple[bytes | str, bytes]) -> bytes:
    return b"F" + table(*items)


def item_array(*items: bytes) -> bytes:
    data = b"".join(items)
    return b"A" + pack(">I", len(data)) + data


def nested_headers(depth: int) -> bytes:
    """A header table nested ``depth`` levels deep: {"n": {"n": {…}}}."""
    inner = table()
    for _ in range(depth):
        inner = table((b"n", b"F" + inner))
    return inner


def content_header(**values) -> bytes:
    """The property flags and list; short strings may be any bytes, ``headers`` is an
    already encoded table (:func:`table`), ``timestamp`` any unsigned 64-bit int."""
    unknown = set(values) - {name for _, name, _ in _PROPERTIES}
    if unknown:
        raise TypeError(f"not basic properties: {sorted(unknown)}")
    flags, data = 0, b""
    for bit, name, kind in _PROPERTIES:
        value = values.get(name)
        if value is None:
            continue
        flags |= bit
        if kind == "s":
            data += short_string(value)
        elif kind == "o":
            data += pack(">B", value)
        elif kind == "T":
            data += pack(">Q", value)
        else:
            data += value
    return pack(">H", flags) + data


class _RawContent(amqp.Message):
    """An amqp.Message whose content header is given as bytes."""

    def __init__(self, body: bytes, header: bytes):
        super().__init__(body)
        self._raw_header = header

    def _serialize_properties(self) -> bytes:
        return self._raw_header


class RawPublisher:
    """Publishes bodies with hand-built content headers, waiting for each confirm."""

    def __init__(self, amqp_uri: str):
        self.connection = BrokerAddress.from_uri(amqp_uri).connect()
        self.channel = self.connection.channel()
        self.channel.confirm_select()

    def publish(self, exchange: str, routing_key: str, body: bytes, header: bytes) -> None:
        self.channel.basic_publish_confirm(
            _RawContent(body, header), exchange=exchange, routing_key=routing_key
        )

    def close(self) -> None:
        self.connection.collect()

    def __enter__(self) -> "RawPublisher":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
