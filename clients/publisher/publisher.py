"""The publisher: one ingress event, contract-checked, confirmed by the broker.

    from clients.publisher import Publisher

    with Publisher("amqp://portal:secret@broker:5672/park", "portal",
                   park_id="aux-shangjie") as portal:
        sent = portal.publish("application_submitted", payload)
        print(sent.correlation_id)        # the flow to follow: park trace <id>

``publish`` validates the payload (:class:`InvalidEvent` names each failing field), builds
the envelope of DESIGN §3 (``shared.contract.build``: a new ``event_id``, a new
``correlation_id`` unless one is given, ``occurred_at`` in UTC ``Z``), sends it to
``<system>.events`` with routing key = the type, ``mandatory``, on a channel in confirm
mode, with the AMQP properties of ``shared.messaging.publisher.message_for`` (persistent,
``application/json``, ``message_id``, ``correlation_id``, ``timestamp``, ``app_id``, and
``user_id`` = the connection's own user, which the broker verifies), and returns once the
broker confirmed it.

A lost or refused connection (broker down, restarting, a heartbeat missed) is retried on
a fresh connection, ``retries`` times, waiting ``backoff`` seconds, doubled each time, at
most ``max_backoff``; then :class:`BrokerUnavailable`. A connection lost after the broker
took the event but before its confirm arrived sends it again: the same ``event_id`` and
idempotency key, which consumers apply once. Not thread-safe: one publisher per thread.
"""

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pika
import pika.exceptions as amqp_errors
import structlog

from clients.publisher.errors import BrokerUnavailable, InvalidEvent, Refused, Unroutable
from clients.publisher.validation import check_envelope, validate_payload
from shared.clock import utcnow
from shared.contract import build
from shared.messaging.amqp_client import BrokerAddress
from shared.messaging.errors import ContractViolation
from shared.messaging.publisher import message_for

log = structlog.get_logger(__name__)

DEFAULT_BROKER = "127.0.0.1:5672"

# Failures that say nothing about the event: the broker may be back on the next attempt.
_TRANSIENT = (
    amqp_errors.AMQPConnectionError,  # refused, reset, lost, closed by the broker, blocked
    amqp_errors.ChannelWrongStateError,
    amqp_errors.ConnectionWrongStateError,
    OSError,
)
# …except these, which are answers: wrong credentials, no access to the vhost.
_CREDENTIALS = (
    amqp_errors.ProbableAuthenticationError,
    amqp_errors.ProbableAccessDeniedError,
    amqp_errors.AuthenticationError,
)


def development_uri(system: str, broker: str = DEFAULT_BROKER) -> str:
    """The development broker as ``system``'s own user, password ``dev-<system>``."""
    return f"amqp://{system}:dev-{system}@{broker}/"


@dataclass(frozen=True)
class Published:
    """An event the broker confirmed: its ids, where it went, and the whole envelope."""

    event_id: str
    correlation_id: str
    exchange: str
    envelope: Mapping[str, Any]


class Publisher:
    """Publishes the events of one ingress system (``portal``, ``gov``, ``bank``,
    ``meters``) on ``<system>.events``, as the broker user of ``amqp_uri``."""

    def __init__(
        self,
        amqp_uri: str,
        system: str,
        *,
        park_id: str | None = None,
        retries: int = 5,
        backoff: float = 0.5,
        max_backoff: float = 10.0,
        connect_timeout: float = 10.0,
        heartbeat: int = 60,
        clock: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if retries < 0 or backoff < 0 or max_backoff < backoff:
            raise ValueError("retries ≥ 0 and 0 ≤ backoff ≤ max_backoff")
        self.address = BrokerAddress.from_uri(amqp_uri)
        self.system = system
        self.user = self.address.user  # the user_id the broker vouches for
        self.park_id = park_id
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.clock = clock
        self._sleep = sleep
        self._parameters = pika.ConnectionParameters(
            host=self.address.host,
            port=self.address.port,
            virtual_host=self.address.vhost,
            credentials=pika.PlainCredentials(self.address.user, self.address.password),
            connection_attempts=1,  # the retries are ours, with back-off
            socket_timeout=connect_timeout,
            stack_timeout=connect_timeout * 2,
            blocked_connection_timeout=connect_timeout * 3,  # a broker under an alarm
            heartbeat=heartbeat,
        )
        self._connection: pika.BlockingConnection | None = None
        self._channel = None
        if self.user != system:
            # The consumers accept an ingress event only from that system's own user.
            log.warning("publishing as another user than the system", system=system, user=self.user)

    def delays(self) -> list[float]:
        """The waits before each reconnection, in order."""
        return [min(self.backoff * 2**n, self.max_backoff) for n in range(self.retries)]

    def publish(
        self,
        type_: str,
        payload: Mapping[str, Any],
        *,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        park_id: str | None = None,
        version: int = 1,
    ) -> Published:
        """Validate, build and send one event; return once the broker confirmed it."""
        name = f"{self.system}/{type_} v{version}"
        document = validate_payload(self.system, type_, payload, version=version)
        try:
            envelope = build(
                self.system,
                type_,
                document,
                occurred_at=self.clock(),
                correlation_id=correlation_id,
                causation_id=causation_id,
                park_id=park_id if park_id is not None else self.park_id,
                version=version,
            )
        except (ContractViolation, ValueError, TypeError) as error:
            raise InvalidEvent(name, {"event": str(error)}) from None
        message = message_for(envelope, user_id=self.user)
        check_envelope(name, message.body)  # exactly what the consumer will read
        properties = dict(message.properties)
        stamp = properties.pop("timestamp")
        self._send(
            message.exchange,
            message.routing_key,
            message.body,
            pika.BasicProperties(
                delivery_mode=pika.DeliveryMode.Persistent,
                content_type="application/json",
                timestamp=int(stamp.timestamp()),  # AMQP wants epoch seconds
                **properties,
            ),
        )
        return Published(
            envelope["event_id"], envelope["correlation_id"], message.exchange, envelope
        )

    def _send(self, exchange: str, routing_key: str, body: bytes, properties) -> None:
        waits = self.delays()
        for attempt in range(len(waits) + 1):
            try:
                channel = self._ensure_channel()
                channel.basic_publish(exchange, routing_key, body, properties, mandatory=True)
                return
            except amqp_errors.UnroutableError:
                raise Unroutable(
                    f"the broker returned the event: no queue is bound to {exchange} for "
                    f"{routing_key!r} and it has no alternate exchange (declare the park's "
                    "topology: park topology declare)"
                ) from None
            except amqp_errors.NackError:
                raise Refused(f"the broker refused the event on {exchange} (nack)") from None
            except amqp_errors.ChannelClosedByBroker as error:
                self._channel = None  # the connection is still good
                raise self._refusal(exchange, error) from None
            except _CREDENTIALS as error:
                self.close()
                raise Refused(
                    f"the broker refused the connection as {self.user!r} on vhost "
                    f"{self.address.vhost!r} (wrong password, disabled system, or no access "
                    f"to the vhost): {error}"
                ) from None
            except _TRANSIENT as error:
                self.close()
                last = error
                if attempt < len(waits):
                    log.warning(
                        "broker unavailable, retrying",
                        attempt=attempt + 1,
                        wait=waits[attempt],
                        error=repr(error),
                    )
                    self._sleep(waits[attempt])
        raise BrokerUnavailable(
            f"the broker at {self.address.host}:{self.address.port} (vhost "
            f"{self.address.vhost!r}) was unavailable on {len(waits) + 1} attempts over "
            f"{sum(waits):.1f}s of back-off: {last!r}"
        )

    def _refusal(self, exchange: str, error) -> Exception:
        code, text = error.reply_code, error.reply_text
        if code == 404:
            return Unroutable(
                f"exchange {exchange!r} does not exist on vhost {self.address.vhost!r} "
                f"(declare the park's topology: park topology declare): {text}"
            )
        return Refused(f"the broker refused the event on {exchange} ({code}): {text}")

    def _ensure_channel(self):
        if self._connection is None or not self._connection.is_open:
            self.close()
            self._connection = pika.BlockingConnection(self._parameters)
        if self._channel is None or not self._channel.is_open:
            self._channel = self._connection.channel()
            self._channel.confirm_delivery()
        return self._channel

    def close(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None and connection.is_open:
            try:
                connection.close()
            except (amqp_errors.AMQPError, OSError):
                log.debug("publisher connection dropped while closing")

    def __enter__(self) -> "Publisher":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
