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
  only after the broker confirmed the republished copy; a copy the broker refuses is
  published again with back-off, and the handler is not run again for it;
* whatever the bytes — body, properties, headers — the message is handled or
  dead-lettered with a reason, and the consumer lives (``amqp_decoding`` makes py-amqp's
  header decoding total); ``park-*`` headers are believed only on the service's own
  copies (``delivery`` holds these decisions as pure functions).
"""

import threading
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
from shared.messaging import amqp_decoding
from shared.messaging.amqp_client import BrokerAddress, ConfirmingPublisher, OutgoingMessage
from shared.messaging.delivery import (  # noqa: F401  (names other modules import from here)
    ATTEMPTS,
    CARRIED_PROPERTIES,
    ERROR,
    FAILED_AT,
    ORIGINAL_EXCHANGE,
    ORIGINAL_QUEUE,
    ORIGINAL_ROUTING_KEY,
    SENDER,
    attempts_so_far,
    check_route,
    copy_properties,
    is_own_copy,
    property_problems,
    verified_sender,
)
from shared.messaging.errors import (
    DuplicateEvent,
    MalformedMessage,
    PermanentFailure,
    PublishFailed,
    TopologyMissing,
)
from shared.messaging.senders import check_sender
from shared.messaging.topology import Subscription, dead_letter_queue, retry_exchange
from shared.metrics import EVENTS, HANDLER_SECONDS
from shared.settings import MessagingSettings

log = structlog.get_logger(__name__)

# A republish the broker refused is retried after 1 s, 2 s, 4 s … at most 60 s apart.
REPUBLISH_BACKOFF = (1.0, 60.0)
CONSUMER_RESTART_PAUSE = 1.0  # after an unexpected error in the consuming loop


class Republisher(SharedExtension):
    """One confirming publisher per container for retries and dead letters."""

    def setup(self) -> None:
        settings = MessagingSettings.from_config(config)
        self.address = BrokerAddress.from_uri(settings.amqp_uri)
        self.publisher = ConfirmingPublisher(self.address)

    def stop(self) -> None:
        self.publisher.close()

    kill = stop


class _UndecodedConsumer(kombu.Consumer):
    """kombu's consumer without kombu's body processing: a ``compression`` header from
    any publisher would make kombu inflate the body (a decompression bomb), and a body it
    cannot inflate would go to ``on_decode_error``, which acks it — a silent drop. We read
    the bytes as they came, and dead-letter what we cannot read."""

    def _receive_callback(self, raw):
        headers = raw.properties.get("application_headers")
        compression = headers.pop("compression", None) if isinstance(headers, dict) else None
        message = self.channel.message_to_python(raw)
        if compression is not None:
            message.headers["compression"] = compression  # kept, as a plain header
        return self.on_message(message)


class _RawMessageConsumer(ConsumerCore):
    """nameko's consumer, but handing over the undecoded message (we parse it ourselves,
    so that invalid JSON is dead-lettered with a reason instead of crashing kombu), and
    surviving whatever the client library raises."""

    def get_consumers(self, consumer_cls, channel):
        # py-amqp would decode the body with any codec named by content_encoding: the
        # body is read, and republished, as the bytes that came.
        channel.auto_decode = False
        consumer = _UndecodedConsumer(channel, queues=self.queues, on_message=self._on_raw_message)
        consumer.qos(prefetch_count=self.prefetch_count)  # per consumer: quorum refuses global
        return [consumer]

    def _on_raw_message(self, message) -> None:
        try:
            self.on_message(None, message)
        except Exception:
            # A bug of ours must not kill the consumer: the broker dead-letters what we
            # reject (the work queues' dead-letter policy), and nothing else is lost.
            log.exception("could not take a message; rejected without requeue")
            self.reject_message(message)

    def run(self, *args, **kwargs) -> None:
        """kombu's loop, restarted (on a fresh connection) after an unexpected error:
        kombu survives connection errors only, and a dead loop is a dead container."""
        while not self.should_stop:
            try:
                super().run(*args, **kwargs)
            except Exception:
                if self.should_stop:
                    return
                log.exception("consumer loop failed; reconnecting")
                time.sleep(CONSUMER_RESTART_PAUSE)

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

    def reject_message(self, message) -> None:
        """Reject without requeue: the broker dead-letters it (or, without the work
        queues' dead-letter policy, drops it: the last resort only)."""
        try:
            if message.channel.connection:
                message.reject(requeue=False)
        except (OSError, amqp.exceptions.AMQPError) as error:
            log.warning("reject lost with the connection; the broker redelivers", error=repr(error))


def _body_bytes(message: kombu.Message) -> bytes:
    """The body as it came (py-amqp leaves an empty body as ``""``)."""
    body = message.body
    if isinstance(body, str):
        return body.encode("utf-8", "surrogatepass")
    return bytes(body)


def _connection_alive(message: kombu.Message) -> bool:
    """Whether ``message`` can still be acked: its channel and connection are open."""
    channel = message.channel
    return bool(getattr(channel, "is_open", False) and getattr(channel, "connection", None))


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
        amqp_decoding.install()  # undecodable properties become a reason, not a crash
        settings = MessagingSettings.from_config(config)
        self.subscription = Subscription(self.container.service_name, self.source, self.type)
        self.queue = kombu.Queue(self.subscription.queue, no_declare=True)
        self.retry_delays = settings.retry_delays
        self.consumer_options.setdefault("prefetch_count", settings.prefetch_count)
        self._stopping = threading.Event()
        super().setup()

    def start(self) -> None:
        self._check_topology()
        super().start()

    def stop(self) -> None:
        self._stopping.set()  # ends republish back-offs; the broker keeps their messages
        super().stop()

    def kill(self) -> None:
        self._stopping.set()
        super().kill()

    def _check_topology(self) -> None:
        """Refuse to start unless the work queue, the DLQ and every retry exchange exist:
        a missing one would lose dead letters or loop retries (passive declares)."""
        service = self.subscription.service
        needed = [("queue", self.subscription.queue), ("queue", dead_letter_queue(service))]
        needed += [("exchange", retry_exchange(service, delay)) for delay in self.retry_delays]
        missing = []
        connection = self.republisher.address.connect()
        try:
            for kind, name in needed:
                channel = connection.channel()  # a failed passive declare closes it
                try:
                    if kind == "queue":
                        channel.queue_declare(name, passive=True)
                    else:
                        channel.exchange_declare(name, "fanout", passive=True)
                except amqp.exceptions.NotFound:
                    missing.append(f"{kind} {name}")
                else:
                    channel.close()
        finally:
            connection.collect()
        if missing:
            raise TopologyMissing(
                f"{', '.join(f'{what} does not exist' for what in missing)}: declare the "
                "topology first "
                "(park topology declare, or make declare) and make sure the subscription "
                "is in shared/messaging/topology.py"
            )

    # -- receiving ---------------------------------------------------------------------

    @property
    def _own_user(self) -> str:
        return self.republisher.address.user

    def _count(self, outcome: str, started: float | None = None) -> None:
        queue = self.subscription.queue
        EVENTS.labels(self.subscription.service, queue, outcome).inc()
        if started is not None:
            HANDLER_SECONDS.labels(self.subscription.service, queue).observe(
                time.monotonic() - started
            )

    def read(self, message: kombu.Message) -> Event:
        """The message as an event of this subscription, or :class:`MalformedMessage`
        (whatever its bytes: nothing else is raised)."""
        try:
            problems = property_problems(message.properties)
            if problems:
                raise MalformedMessage("; ".join(problems))
            sender = verified_sender(message.properties, message.headers or {}, self._own_user)
            event = parse(_body_bytes(message), sender=sender)
            check_route(event, self.subscription)
            # Who may publish there (senders.py). An own copy without park-sender was
            # published by this service's own user itself: the rule believes it as such.
            publisher = event.sender
            if publisher is None and is_own_copy(message.properties, self._own_user):
                publisher = self._own_user
            check_sender(event.source, publisher, own_user=self._own_user)
            return event
        except MalformedMessage:
            raise
        except Exception as error:
            raise MalformedMessage(f"message cannot be read ({type(error).__name__})") from None

    def handle_message(self, body: None, message: kombu.Message) -> None:
        started = time.monotonic()
        try:
            event = self.read(message)
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

    def _attempts(self, message: kombu.Message) -> int:
        return attempts_so_far(message.properties, message.headers or {}, self._own_user)

    # -- outcome -----------------------------------------------------------------------

    def handle_result(self, message, worker_ctx, result=None, exc_info=None, *, started=None):
        if exc_info is None:
            try:
                self._before_ack(worker_ctx)
            except Exception as error:
                log.warning("settling before the ack failed", error=repr(error))
                self._count(self._handle_failure(message, error), started)
                return result, exc_info
            self.consumer.ack_message(message)
            self._count("applied", started)
        else:
            self._count(self._handle_failure(message, exc_info[1]), started)
        return result, exc_info

    def _before_ack(self, worker_ctx) -> None:
        """Let the dependencies finish their part of the message (the unit of work's
        inbox claim of a handler that committed nothing) before it is acked: nameko calls
        ``handle_result`` before the dependencies' ``worker_result``."""
        for provider in self.container.dependencies:
            settle = getattr(provider, "before_ack", None)
            if callable(settle):
                settle(worker_ctx)

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
        """Publish a copy with confirms, then ack the original; returns the outcome.

        If the broker does not take the copy (a nack, a return, a lost connection), the
        original stays unacked — the handler is never run again for it — and the copy is
        published again with a back-off, in the background, until it is confirmed, the
        consumer's connection is lost (the broker then redelivers, and the inbox makes
        that harmless) or the container stops.
        """
        try:
            properties = copy_properties(
                message.properties,
                message.headers or {},
                message.delivery_info,
                queue=self.subscription.queue,
                own_user=self._own_user,
                extra_headers=extra_headers,
            )
            copy = OutgoingMessage(exchange, routing_key, _body_bytes(message), properties)
            if self._publish(copy):
                self.consumer.ack_message(message)
                return outcome
        except Exception:
            return self._give_up(message)
        self.container.spawn_managed_thread(
            lambda: self._keep_republishing(message, copy, outcome),
            identifier=f"republish[{self.subscription.queue}]",
        )
        return "republish_pending"

    def _publish(self, copy: OutgoingMessage) -> bool:
        """True once the broker confirmed ``copy``; False if it did not take it."""
        try:
            self.republisher.publisher.publish([copy])
            return True
        except PublishFailed as error:  # includes a return of a mandatory publish
            log.error("could not republish; will try again", error=str(error))
            return False

    def _keep_republishing(self, message: kombu.Message, copy: OutgoingMessage, outcome: str):
        pause, longest = REPUBLISH_BACKOFF
        try:
            while not self._stopping.wait(pause):  # stopping: the broker keeps the message
                if not _connection_alive(message):
                    log.warning("connection lost while republishing; the broker redelivers")
                    return
                if self._publish(copy):
                    self.consumer.ack_message(message)
                    self._count(outcome)
                    return
                pause = min(pause * 2, longest)
        except Exception:
            self._count(self._give_up(message))

    def _give_up(self, message: kombu.Message) -> str:
        """The last resort, for a copy that cannot even be built or encoded (a bug):
        reject without requeue, so the broker's dead-letter policy takes the message."""
        log.exception("cannot republish; rejected without requeue", queue=self.subscription.queue)
        self.consumer.reject_message(message)
        return "rejected"


handle_event = HandleEvent.decorator
