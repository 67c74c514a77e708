"""A small AMQP client over py-amqp: connections from URIs, and a batching confirming publisher.

kombu's publish with confirms waits for each confirm in turn (≈1.7k msg/s here). This
publisher puts the channel in confirm mode itself, sends a whole batch, then waits once
for the broker's (possibly ``multiple``) acks: one round trip per batch, not per message.
"""

import re
import socket
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlparse

import amqp
import structlog
from amqp.method_framing import frame_writer

from shared.messaging.errors import PublishFailed, Unroutable

log = structlog.get_logger(__name__)

CONNECTION_ERRORS = (amqp.exceptions.AMQPError, OSError, socket.timeout, ConnectionError)
# A long-lived publisher connection sends heartbeats (so a dead peer is noticed) and
# gives up on a write that blocks (a broker under a resource alarm stops reading).
PUBLISHER_HEARTBEAT = 60
PUBLISHER_WRITE_TIMEOUT = 10.0


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

    def connect(
        self, *, timeout: float = 10.0, heartbeat: int = 0, write_timeout: float | None = None
    ) -> amqp.Connection:
        connection = amqp.Connection(
            host=f"{self.host}:{self.port}",
            userid=self.user,
            password=self.password,
            virtual_host=self.vhost,
            connect_timeout=timeout,
            heartbeat=heartbeat,
            write_timeout=write_timeout,
        )
        connection.connect()
        if write_timeout is not None:
            # py-amqp sets SO_SNDTIMEO, which does nothing on eventlet's non-blocking green
            # sockets (the services'); the socket's own timeout works on both kinds. Reads
            # that pass a timeout (drain_events) set and restore their own.
            connection.transport.sock.settimeout(write_timeout)
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


class _CorkedTransport:
    """The transport a publisher's frames are written through: while :meth:`corked`, the
    frames of a whole batch gather in memory and go out in one write when it ends.

    py-amqp writes each message (method, header and body frames) with its own ``sendall``;
    for a batch of hundreds that is hundreds of system calls and, under eventlet, as many
    trips through the hub. If building the batch fails, nothing of it is sent.
    """

    def __init__(self, transport):
        self.transport = transport
        self._pending: bytearray | None = None

    def write(self, data) -> None:
        if self._pending is None:
            self.transport.write(data)
        else:
            self._pending += data  # a copy: py-amqp reuses the buffer behind ``data``

    @contextmanager
    def corked(self) -> Iterator[None]:
        self._pending = bytearray()
        try:
            yield
            pending = self._pending
        finally:
            self._pending = None
        if pending:
            self.transport.write(pending)


class _ConfirmTimeout(PublishFailed):
    """Confirms did not arrive in time: the connection may be stuck; worth one retry."""


# "NOT_FOUND - no exchange 'x' in vhost 'y'": the channel is closed by the broker.
_MISSING_EXCHANGE = re.compile(r"no exchange '(?P<name>[^']*)'")


class ConfirmingPublisher:
    """Publishes batches of messages and returns only once the broker confirmed all of them.

    Every publish is ``mandatory``: a message no queue takes comes back as a
    ``basic.return`` (RabbitMQ sends it before the message's ``basic.ack``) and the call
    raises :class:`Unroutable` naming the returned messages by their index in the batch.
    A publish to an exchange that does not exist (the broker closes the channel, 404)
    raises :class:`Unroutable` for the messages sent to that exchange. An exchange with
    an alternate exchange (``<source>.events`` → ``park.unrouted``) always routes.

    Thread-safe (green or native): one batch at a time per publisher. A lost connection
    or a confirm timeout is retried once on a fresh connection (the whole batch again:
    consumers are idempotent); a nack, a return or a second failure raises
    :class:`PublishFailed`, and the caller keeps the messages to try again.
    """

    def __init__(
        self,
        address: BrokerAddress,
        *,
        confirm_timeout: float = 15.0,
        heartbeat: int = PUBLISHER_HEARTBEAT,
        write_timeout: float = PUBLISHER_WRITE_TIMEOUT,
    ):
        self.address = address
        self.confirm_timeout = confirm_timeout
        self.heartbeat = heartbeat
        self.write_timeout = write_timeout
        self._lock = threading.Lock()
        self._connection: amqp.Connection | None = None
        self._channel: amqp.Channel | None = None
        self._writes: _CorkedTransport | None = None
        self._last_used = 0.0
        self._next_tag = 1
        self._unconfirmed: set[int] = set()
        self._nacked: set[int] = set()
        self._batch: Sequence[OutgoingMessage] = ()
        self._returned: dict[int, str] = {}  # index in the batch → the broker's reason

    def publish(self, messages: Sequence[OutgoingMessage]) -> None:
        if not messages:
            return
        with self._lock:
            for attempt in (1, 2):
                try:
                    self._publish_and_confirm(messages)
                    return
                except amqp.exceptions.NotFound as error:
                    # The broker closed the channel: a missing exchange. Retrying the
                    # same batch cannot help; the next publish opens a fresh connection.
                    self._discard_connection()
                    raise self._missing_exchange(messages, error) from error
                except (_ConfirmTimeout, *CONNECTION_ERRORS) as error:
                    self._discard_connection()
                    if attempt == 2:
                        if isinstance(error, PublishFailed):
                            raise PublishFailed(str(error)) from error
                        raise PublishFailed(f"broker connection failed: {error!r}") from error
                    log.warning("publisher reconnecting", error=repr(error))
                except PublishFailed:
                    self._discard_connection()
                    raise
                finally:
                    self._batch = ()

    def close(self) -> None:
        with self._lock:
            self._discard_connection()

    def _publish_and_confirm(self, messages: Sequence[OutgoingMessage]) -> None:
        channel = self._ensure_channel()
        self._nacked.clear()
        self._returned.clear()
        self._batch = messages
        with self._writes.corked():
            for message in messages:
                channel.basic_publish(
                    message.to_amqp(),
                    exchange=message.exchange,
                    routing_key=message.routing_key,
                    mandatory=True,
                )
        # Tags only once the batch is on the wire: a batch that failed to build sent nothing.
        self._unconfirmed.update(range(self._next_tag, self._next_tag + len(messages)))
        self._next_tag += len(messages)
        self._last_used = time.monotonic()
        deadline = time.monotonic() + self.confirm_timeout
        while self._unconfirmed:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _ConfirmTimeout(
                    f"{len(self._unconfirmed)} of {len(messages)} messages unconfirmed after "
                    f"{self.confirm_timeout}s"
                )
            self._connection.heartbeat_tick()
            try:
                # Wake at least every half heartbeat, to send ours while we wait.
                self._connection.drain_events(timeout=min(remaining, self._tick_interval()))
            except TimeoutError:
                continue
        self._last_used = time.monotonic()
        if self._returned:
            indices = tuple(sorted(self._returned))
            reasons = sorted(set(self._returned.values()))
            described = ", ".join(
                f"{messages[i].exchange or '(default)'} → {messages[i].routing_key}"
                for i in indices[:5]
            )
            nacked = f"; {len(self._nacked)} refused (nack)" if self._nacked else ""
            raise Unroutable(
                f"the broker returned {len(indices)} of {len(messages)} messages as unroutable "
                f"({'; '.join(reasons)}: {described}{', …' if len(indices) > 5 else ''}){nacked}",
                indices,
            )
        if self._nacked:
            raise PublishFailed(f"the broker refused (nack) {len(self._nacked)} messages")

    def _tick_interval(self) -> float:
        return self.heartbeat / 2 if self.heartbeat else self.confirm_timeout

    def _ensure_channel(self) -> amqp.Channel:
        # A connection idle for a heartbeat interval sent no heartbeats (nobody ticked):
        # the broker may have closed it. A fresh connection is cheaper than a retry.
        fresh = not self.heartbeat or time.monotonic() - self._last_used < self.heartbeat
        if self._channel is not None and self._connection.connected and fresh:
            return self._channel
        self._discard_connection()
        self._connection = self.address.connect(
            heartbeat=self.heartbeat, write_timeout=self.write_timeout
        )
        self._writes = _CorkedTransport(self._connection.transport)
        self._connection.frame_writer = frame_writer(self._connection, self._writes)
        channel = self._connection.channel()
        channel.confirm_select()
        channel.events["basic_ack"].add(self._on_ack)
        channel.events["basic_nack"].add(self._on_nack)
        channel.events["basic_return"].add(self._on_return)
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

    def _on_return(self, error, exchange: str, routing_key: str, message) -> None:
        """A returned message carries no delivery tag: find it in the batch by where it
        went and its body (of identical messages, the first not yet returned)."""
        for index, sent in enumerate(self._batch):
            if (
                index not in self._returned
                and (sent.exchange, sent.routing_key) == (exchange, routing_key)
                and sent.body == message.body
            ):
                self._returned[index] = str(getattr(error, "reply_text", error) or error)
                return
        log.warning("a message returned that this batch did not send", routing_key=routing_key)

    def _missing_exchange(self, messages: Sequence[OutgoingMessage], error) -> PublishFailed:
        text = str(getattr(error, "reply_text", "") or error)
        found = _MISSING_EXCHANGE.search(text)
        indices = tuple(i for i, m in enumerate(messages) if found and m.exchange == found["name"])
        if not indices:
            return PublishFailed(f"the broker closed the channel: {text}")
        return Unroutable(
            f"exchange {found['name']!r} does not exist ({text}); declare the topology "
            "(park topology declare)",
            indices,
        )

    def _discard_connection(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        self._unconfirmed.clear()
        if connection is not None:
            try:
                connection.collect()  # drop the socket without a close handshake
            except Exception:
                log.debug("publisher connection discarded")
