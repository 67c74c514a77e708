"""The publisher library for systems outside the park (portal, bank, meters, firms…).

    publisher = EventPublisher("amqp://portal:secret@broker/park", source="portal")
    publisher.publish("application_submitted", {...}, park_id="aux-shangjie")

The payload is checked against the contract before it leaves; the event gets a new
``event_id``, a new ``correlation_id`` (it starts a flow) unless one is given, and the
AMQP properties of DESIGN §3. ``publish`` returns once the broker confirmed it.
"""

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from shared.clock import utcnow
from shared.contract import build, encode
from shared.messaging.amqp_client import BrokerAddress, ConfirmingPublisher, OutgoingMessage
from shared.messaging.topology import events_exchange


def message_for(
    envelope: Mapping[str, Any], *, exchange: str | None = None, user_id: str | None = None
) -> OutgoingMessage:
    """The AMQP message of an envelope: exchange ``<source>.events``, routing key = type."""
    properties = {
        "message_id": envelope["event_id"],
        "correlation_id": envelope["correlation_id"],
        "type": envelope["type"],
        "app_id": envelope["source"],
        "timestamp": datetime.fromisoformat(envelope["occurred_at"].replace("Z", "+00:00")),
    }
    if user_id:
        properties["user_id"] = user_id
    return OutgoingMessage(
        exchange or events_exchange(envelope["source"]),
        envelope["type"],
        encode(envelope),
        properties,
    )


class EventPublisher:
    """Publishes contract-checked events of one source, with publisher confirms."""

    def __init__(
        self,
        amqp_uri: str,
        source: str,
        *,
        clock: Callable[[], datetime] = utcnow,
        sign_as_user: bool = True,
    ):
        self.address = BrokerAddress.from_uri(amqp_uri)
        self.source = source
        self.clock = clock
        # user_id lets the broker vouch for the sender (firms' reports depend on it).
        self.user_id = self.address.user if sign_as_user else None
        self._publisher = ConfirmingPublisher(self.address)

    def publish(
        self,
        type_: str,
        payload: Mapping[str, Any],
        *,
        park_id: str | None = None,
        correlation_id: str | None = None,
        version: int = 1,
    ) -> dict[str, Any]:
        envelope = build(
            self.source,
            type_,
            payload,
            occurred_at=self.clock(),
            correlation_id=correlation_id,
            park_id=park_id,
            version=version,
        )
        self._publisher.publish([message_for(envelope, user_id=self.user_id)])
        return envelope

    def publish_raw(self, exchange: str, routing_key: str, body: bytes, **properties) -> None:
        """Publish bytes as they are (for tests and tools that send malformed input)."""
        self._publisher.publish([OutgoingMessage(exchange, routing_key, body, properties)])

    def close(self) -> None:
        self._publisher.close()

    def __enter__(self) -> "EventPublisher":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
