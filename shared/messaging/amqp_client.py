"""A small AMQP client over py-amqp: connections from URIs, and a batching confirming publisher.

kombu's publish with confirms waits for each confirm in turn (≈1.7k msg/s here). This
publisher puts the channel in confirm mode itself, sends a whole batch, then waits once
for the broker's (possibly ``multiple``) acks: one round trip per batch, not per message.
"""

import socket
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlparse

import amqp
import structlog

from shared.messaging.errors import PublishFailed

log = structlog.get_logger(__name__)

CONNECTION_ERRORS = (amqp.exceptions.AMQPError, OSError, socket.timeout, ConnectionError)


@dataclass(frozen=True)
class BrokerAddress:
    """Where and as whom to connect, parsed from an ``amqp://`` / ``pyamqp://`` URI."""

    host: str
    port: int
    user: str
    password: str
    vhost: str

    @classmethod
    def from_uri(cls, uri: str) -> "BrokerAddress":
        parts = urlparse(uri)
        if parts.scheme not in ("amqp", "pyamqp"):
            raise ValueError(f"unsupported broker URI scheme {parts.scheme!r} in {uri!r}")
        vhost = unquote(parts.path[1:]) if len(parts.path) > 1 else "/"
        return cls(
            host=parts.hostname or "localhost",
            port=parts.port or 5672,
            user=unquote(parts.username or "guest"),
            password=unquote(parts.password or "guest"),
            vhost=vhost,
        )

    def connect(self, *, timeout: float = 10.0, heartbeat: int = 0) -> amqp.Connection:
        connection = amqp.Connection(
            host=f"{self.host}:{self.port}",
            userid=self.user,
            password=self.password,
            virtual_host=self.vhost,
            connect_timeout=timeout,
            heartbeat=heartbeat,
        )
        connection.connect()
        return connection


@dataclass(frozen=True)
class OutgoingMessage:
    """One message to publish: where to, the body, and its AMQP properties."""

    exchange: str
    routing_key: str
    body: bytes
    properties: Mapping[str, Any] = field(default_factory=dict)

    def to_amqp(self) -> amqp.Message:
        properties = dict(self.properties)
        headers = properties.pop("headers", None)
        if headers:
            properties["application_headers"] = dict(headers)
        if isinstance(properties.get("timestamp"), datetime):  # AMQP wants epoch seconds
            stamp = properties["timestamp"]
            stamp = stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
            properties["timestamp"] = int(stamp.timestamp())
        properties.setdefault("delivery_mode", 2)
        properties.setdefault("content_type", "application/json")
        return amqp.Message(self.body, **properties)


class ConfirmingPublisher:
    """Publishes batches of messages and returns only once the broker confirmed all of them.

    Thread-safe (green or native): one batch at a time per publisher. A lost connection
    is reopened once per call; a nack or a confirm timeout raises :class:`PublishFailed`,
    and the caller keeps the messages to try again (consumers are idempotent).
    """

    def __init__(self, address: BrokerAddress, *, confirm_timeout: float = 15.0):
        self.address = address
        self.confirm_timeout = confirm_timeout
        self._lock = threading.Lock()
        self._connection: amqp.Connection | None = None
        self._channel: amqp.Channel | None = None
        self._next_tag = 1
        self._unconfirmed: set[int] = set()
        self._nacked: set[int] = set()

    def publish(self, messages: Sequence[OutgoingMessage]) -> None:
        if not messages:
            return
        with self._lock:
            for attempt in (1, 2):
                try:
                    self._publish_and_confirm(messages)
                    return
                except CONNECTION_ERRORS as error:
                    self._discard_connection()
                    if attempt == 2:
                        raise PublishFailed(f"broker connection failed: {error!r}") from error
                    log.warning("publisher reconnecting", error=repr(error))
                except PublishFailed:
                    self._discard_connection()
                    raise

    def close(self) -> None:
        with self._lock:
            self._discard_connection()

    def _publish_and_confirm(self, messages: Sequence[OutgoingMessage]) -> None:
        channel = self._ensure_channel()
        self._nacked.clear()
        for message in messages:
            channel.basic_publish(
                message.to_amqp(), exchange=message.exchange, routing_key=message.routing_key
            )
            self._unconfirmed.add(self._next_tag)
            self._next_tag += 1
        deadline = time.monotonic() + self.confirm_timeout
        while self._unconfirmed:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise PublishFailed(
                    f"{len(self._unconfirmed)} of {len(messages)} messages unconfirmed after "
                    f"{self.confirm_timeout}s"
                )
            try:
                self._connection.drain_events(timeout=remaining)
            except TimeoutError:
                continue
        if self._nacked:
            raise PublishFailed(f"the broker refused (nack) {len(self._nacked)} messages")

    def _ensure_channel(self) -> amqp.Channel:
        if self._channel is not None and self._connection.connected:
            return self._channel
        self._discard_connection()
        self._connection = self.address.connect()
        channel = self._connection.channel()
        channel.confirm_select()
        channel.events["basic_ack"].add(self._on_ack)
        channel.events["basic_nack"].add(self._on_nack)
        self._channel, self._next_tag = channel, 1
        self._unconfirmed.clear()
        return channel

    def _settle(self, delivery_tag: int, multiple: bool) -> set[int]:
        if not multiple:
            settled = {delivery_tag}
        else:
            settled = {tag for tag in self._unconfirmed if tag <= delivery_tag}
        self._unconfirmed -= settled
        return settled

    def _on_ack(self, delivery_tag: int, multiple: bool) -> None:
        self._settle(delivery_tag, multiple)

    def _on_nack(self, delivery_tag: int, multiple: bool) -> None:
        self._nacked |= self._settle(delivery_tag, multiple)

    def _discard_connection(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        self._unconfirmed.clear()
        if connection is not None:
            try:
                connection.collect()  # drop the socket without a close handshake
            except Exception:
                log.debug("publisher connection discarded")
