"""``@handle_event(source, type)``: the idempotent, retrying consumer entrypoint.

It replaces nameko's ``event_handler`` (which acks a failed message and so loses it):

* the message is read from the subscription's own work queue
  ``<service>.<source>.<type>``, declared beforehand by the declare step;
* envelope and payload are validated: a malformed message goes straight to
  ``<service>.dlq`` with a ``park-error`` naming the field;
* the handler runs with the :class:`~shared.contract.Event`; its unit of work claims the
  event in the inbox in the same transaction as the effect;
* success, or a duplicate, is acked. A transient failure is republished to the next
  retry level (``park-attempts`` counts failures); after the last level, or at once for
  a :class:`~shared.messaging.errors.PermanentFailure`, it is dead-lettered. The original is acked
  only after the broker confirmed the republished copy.
"""

import time
from datetime import UTC, datetime
from functools import partial
from typing import Any

import amqp
import kombu
import structlog
from nameko import config
from nameko.amqp.consume import Consumer as ConsumerCore
from nameko.exceptions import ContainerBeingKilled
from nameko.extensions import SharedExtension
from nameko.messaging import Consumer

from shared.contract import Event, parse
from shared.contract.fields import utc_iso
from shared.messaging.amqp_client import BrokerAddress, ConfirmingPublisher, OutgoingMessage
from shared.messaging.errors import (
    DuplicateEvent,
    MalformedMessage,
    PermanentFailure,
    PublishFailed,
    TopologyMissing,
)
from shared.messaging.topology import Subscription, dead_letter_queue, retry_exchange
from shared.metrics import EVENTS, HANDLER_SECONDS
from shared.settings import MessagingSettings

log = structlog.get_logger(__name__)

ATTEMPTS = "park-attempts"
SENDER = "park-sender"
ERROR = "park-error"
ORIGINAL_QUEUE = "park-original-queue"
ORIGINAL_EXCHANGE = "park-original-exchange"
ORIGINAL_ROUTING_KEY = "park-original-routing-key"
FAILED_AT = "park-failed-at"
PUBLISH_FAILURE_PAUSE = 1.0
# AMQP properties a retried, dead-lettered or replayed copy keeps from its original.
CARRIED_PROPERTIES = (
    "message_id",
    "correlation_id",
    "timestamp",
    "app_id",
    "type",
    "content_type",
    "content_encoding",
)  # seconds before a message whose republish failed is requeued


class Republisher(SharedExtension):
    """One confirming publisher per container for retries and dead letters."""

    def setup(self) -> None:
        settings = MessagingSettings.from_config(config)
        self.address = BrokerAddress.from_uri(settings.amqp_uri)
        self.publisher = ConfirmingPublisher(self.address)

    def stop(self) -> None:
        self.publisher.close()

    kill = stop


class _RawMessageConsumer(ConsumerCore):
    """nameko's consumer, but handing over the undecoded message (we parse it ourselves,
    so that invalid JSON is dead-lettered with a reason instead of crashing kombu)."""

    def get_consumers(self, consumer_cls, channel):
        consumer = consumer_cls(queues=self.queues, on_message=self._on_raw_message)
        consumer.qos(prefetch_count=self.prefetch_count)  # per consumer: quorum refuses global
        return [consumer]

    def _on_raw_message(self, message) -> None:
        self.on_message(None, message)

    # nameko guards ack and requeue against amqp's ConnectionError only. A connection
    # dropped while a worker finishes (a broker restart) raises a socket error instead,
    # which would kill the whole container. Nothing is lost by swallowing it: the broker
    # redelivers the unacked message and the inbox makes the redelivery harmless.
    def ack_message(self, message) -> None:
        try:
            super().ack_message(message)
        except (OSError, amqp.exceptions.ConnectionError) as error:
            log.warning("ack lost with the connection; the broker redelivers", error=repr(error))

    def requeue_message(self, message) -> None:
        try:
            super().requeue_message(message)
        except (OSError, amqp.exceptions.ConnectionError) as error:
            log.warning(
                "requeue lost with the connection; the broker redelivers", error=repr(error)
            )


class HandleEvent(Consumer):
    """The entrypoint behind :func:`handle_event`."""

    consumer_cls = _RawMessageConsumer
    republisher = Republisher()

    def __init__(self, source: str, type_: str, **kwargs: Any):
        self.source = source
        self.type = type_
        # A duplicate is an expected outcome, not an error: nameko logs it as a warning.
        expected = tuple(kwargs.pop("expected_exceptions", ()) or ())
        super().__init__(queue=None, expected_exceptions=(DuplicateEvent, *expected), **kwargs)

    def setup(self) -> None:
        settings = MessagingSettings.from_config(config)
        self.subscription = Subscription(self.container.service_name, self.source, self.type)
        self.queue = kombu.Queue(self.subscription.queue, no_declare=True)
        self.retry_delays = settings.retry_delays
        self.consumer_options.setdefault("prefetch_count", settings.prefetch_count)
        super().setup()

    def start(self) -> None:
        self._check_queue_exists()
        super().start()

    def _check_queue_exists(self) -> None:
        connection = self.republisher.address.connect()
        try:
            connection.channel().queue_declare(self.subscription.queue, passive=True)
        except amqp.exceptions.NotFound:
            raise TopologyMissing(
                f"queue {self.subscription.queue} does not exist: declare the topology first "
                "(make declare) and make sure the subscription is in shared/messaging/topology.py"
            ) from None
        finally:
            connection.collect()

    # -- receiving ---------------------------------------------------------------------

    def _count(self, outcome: str, started: float | None = None) -> None:
        queue = self.subscription.queue
        EVENTS.labels(self.subscription.service, queue, outcome).inc()
        if started is not None:
            HANDLER_SECONDS.labels(self.subscription.service, queue).observe(
                time.monotonic() - started
            )

    def handle_message(self, body: None, message: kombu.Message) -> None:
        started = time.monotonic()
        sender = self._verified_sender(message)
        try:
            event = parse(message.body, sender=sender)
            self._check_route(event)
        except MalformedMessage as error:
            reason, attempts = error.reason, self._attempts(message) + 1
            self.container.spawn_managed_thread(
                lambda: self._count(self._dead_letter(message, reason, attempts), started)
            )
            return
        context_data = {"correlation_id": event.correlation_id, "event_id": event.event_id}
        handle_result = partial(self.handle_result, message, started=started)

        def spawn_worker() -> None:
            try:
                self.container.spawn_worker(
                    self, (event,), {}, context_data=context_data, handle_result=handle_result
                )
            except ContainerBeingKilled:
                self.consumer.requeue_message(message)

        # A thread of its own, as nameko does: a full worker pool must not block the
        # consumer (and its heartbeats).
        self.container.spawn_managed_thread(spawn_worker)

    def _check_route(self, event: Event) -> None:
        if (event.source, event.type) != (self.source, self.type):
            raise MalformedMessage(
                f"type: {event.source}/{event.type} arrived on {self.subscription.queue}, "
                f"which takes only {self.source}/{self.type}"
            )

    def _verified_sender(self, message: kombu.Message) -> str | None:
        """The broker-validated publisher of the *original* message.

        RabbitMQ checks ``user_id`` against the connection's user, so only this service
        (or whoever holds its credentials) can publish with our own user id: that is how
        a copy coming back from our retry queue is recognised, and only then is its
        ``park-sender`` header believed.
        """
        user_id = message.properties.get("user_id")
        if user_id and user_id == self.republisher.address.user:
            return (message.headers or {}).get(SENDER)
        return user_id or None

    @staticmethod
    def _attempts(message: kombu.Message) -> int:
        value = (message.headers or {}).get(ATTEMPTS, 0)
        return value if isinstance(value, int) and value >= 0 else 0

    # -- outcome -----------------------------------------------------------------------

    def handle_result(self, message, worker_ctx, result=None, exc_info=None, *, started=None):
        if exc_info is None:
            self.consumer.ack_message(message)
            self._count("applied", started)
        else:
            self._count(self._handle_failure(message, exc_info[1]), started)
        return result, exc_info

    def _handle_failure(self, message: kombu.Message, error: BaseException) -> str:
        """Settle a failed message; returns the outcome, for the metrics."""
        if isinstance(error, DuplicateEvent):
            log.info("duplicate event ignored", queue=self.subscription.queue)
            self.consumer.ack_message(message)
            return "duplicate"
        attempts = self._attempts(message) + 1
        if isinstance(error, PermanentFailure):
            return self._dead_letter(message, f"{type(error).__name__}: {error}", attempts)
        if attempts <= len(self.retry_delays):
            return self._retry(message, error, attempts)
        reason = f"failed {attempts} times; last error: {type(error).__name__}: {error}"
        return self._dead_letter(message, reason, attempts)

    def _retry(self, message: kombu.Message, error: BaseException, attempts: int) -> str:
        delay = self.retry_delays[attempts - 1]
        log.warning(
            "handler failed; retrying later",
            queue=self.subscription.queue,
            attempts=attempts,
            delay_seconds=delay,
            error=repr(error),
        )
        exchange = retry_exchange(self.subscription.service, delay)
        # Routing key = the work queue: on expiry the message dead-letters through the
        # default exchange straight back to this queue, and to no other subscriber.
        return self._republish(
            message, exchange, self.subscription.queue, {ATTEMPTS: attempts}, "retried"
        )

    def _dead_letter(self, message: kombu.Message, reason: str, attempts: int) -> str:
        log.error(
            "message dead-lettered", queue=self.subscription.queue, reason=reason, attempts=attempts
        )
        headers = {
            ERROR: reason[:2000],
            ATTEMPTS: attempts,
            FAILED_AT: utc_iso(datetime.now(UTC)),
        }
        queue = dead_letter_queue(self.subscription.service)
        return self._republish(message, "", queue, headers, "dead_lettered")

    def _republish(
        self,
        message: kombu.Message,
        exchange: str,
        routing_key: str,
        extra_headers: dict[str, Any],
        outcome: str,
    ) -> str:
        """Publish a copy with confirms, then ack the original; returns the outcome."""
        copy = OutgoingMessage(
            exchange, routing_key, message.body, self._copied_properties(message, extra_headers)
        )
        try:
            self.republisher.publisher.publish([copy])
        except PublishFailed as error:
            # Not acked: the broker keeps the original. Pause so that a broker in trouble
            # does not turn the requeue into a hot loop.
            log.error("could not republish; message requeued", error=str(error))
            time.sleep(PUBLISH_FAILURE_PAUSE)
            self.consumer.requeue_message(message)
            return "requeued"
        self.consumer.ack_message(message)
        return outcome

    def _copied_properties(self, message: kombu.Message, extra_headers: dict[str, Any]) -> dict:
        """The original's properties and headers, plus where it came from, its verified
        sender, and ``extra_headers``; published as this service's own user."""
        headers = dict(message.headers or {})
        headers.pop("x-death", None)  # the broker's own history; it rebuilds it
        delivery = message.delivery_info
        headers.setdefault(ORIGINAL_QUEUE, self.subscription.queue)
        headers.setdefault(ORIGINAL_EXCHANGE, delivery.get("exchange", ""))
        headers.setdefault(ORIGINAL_ROUTING_KEY, delivery.get("routing_key", ""))
        headers.pop(SENDER, None)
        if sender := self._verified_sender(message):
            headers[SENDER] = sender
        headers.update(extra_headers)
        properties = {
            key: message.properties[key]
            for key in CARRIED_PROPERTIES
            if message.properties.get(key) is not None
        }
        properties.setdefault("content_type", "application/json")
        return {**properties, "user_id": self.republisher.address.user, "headers": headers}


handle_event = HandleEvent.decorator
