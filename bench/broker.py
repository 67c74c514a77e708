"""The bench's side of the broker: its own vhosts, the queues of each row, the pre-fill,
the sink that timestamps outputs, and the watcher that sees a forwarder start consuming."""

import contextlib
import dataclasses
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import quote

import amqp
import requests

from bench.messages import input_body, input_properties
from bench.stopping import uninterrupted
from shared.messaging.amqp_client import BrokerAddress, ConfirmingPublisher, OutgoingMessage
from shared.messaging.management import ManagementClient, ManagementUnavailable


@dataclass(frozen=True)
class Broker:
    """Where the bench runs: a server, as a user allowed to make vhosts."""

    host: str = "127.0.0.1"
    port: int = 5672
    user: str = "guest"
    password: str = "guest"
    management_url: str | None = None

    def uri(self, vhost: str) -> str:
        return f"amqp://{self.user}:{self.password}@{self.host}:{self.port}/{quote(vhost, safe='')}"

    def management(self) -> ManagementClient:
        address = BrokerAddress(self.host, self.port, self.user, self.password, "/")
        return ManagementClient.for_broker(self.management_url, address)

    @contextlib.contextmanager
    def vhost(self, label: str) -> Iterator[str]:
        """A fresh vhost for one measurement, deleted afterwards (queues and all)."""
        name = f"bench-{label}-{uuid.uuid4().hex[:8]}"
        management = self.management()
        created = False
        try:  # a stop waits until it is created, then comes here: it is deleted
            with uninterrupted():
                _retry(lambda: management.create_vhost(name))
                created = True
                _retry(lambda: management.set_permissions(name, self.user, ".*", ".*", ".*"))
            yield name
        finally:
            if created:
                with uninterrupted():
                    delete_vhost(management, name)


# A forwarder that took every message at once (FastStream's default: no prefetch limit)
# and was stopped leaves its queue tens of thousands of acks and deliveries to settle: the
# broker then takes minutes to delete the vhost, during which its HTTP API answers the
# DELETE late or not at all (it gives up on a request after about a minute).
DELETE_PATIENCE = 900.0  # seconds


def delete_vhost(
    management: ManagementClient, name: str, *, patience: float = DELETE_PATIENCE
) -> None:
    """Delete the vhost and wait until the broker has: the next measurement must not share
    the machine with the end of this one (it did, on 28 November: a disturbed run, and a
    row given up after its deletions timed out three times)."""
    deadline = time.monotonic() + patience
    patient = dataclasses.replace(management, timeout=min(patience, 120.0))
    announced = False
    while True:
        with contextlib.suppress(*_PASSING):  # a DELETE answered late may still go through
            patient.delete_vhost(name, missing_ok=True)
        with contextlib.suppress(*_PASSING):
            if management.vhost_or_none(name) is None:
                return
        if time.monotonic() > deadline:
            raise TimeoutError(f"the broker still holds vhost {name} after {patience:.0f} s")
        if not announced:
            print(f"  waiting for the broker to finish deleting vhost {name}", flush=True)
            announced = True
        time.sleep(2.0)


# What a management call may meet while the broker is busy or restarting: the API away, an
# error status, or no answer in time (requests' Timeout).
_PASSING = (ManagementUnavailable, RuntimeError, requests.Timeout)


def _retry(action: Callable[[], None], *, attempts: int = 30, pause: float = 2.0) -> None:
    """Retry a management call while the API is away (a broker restarting, say) or late."""
    for attempt in range(attempts):
        try:
            action()
            return
        except _PASSING:
            if attempt == attempts - 1:
                raise
            time.sleep(pause)


def declare_plain(
    amqp_uri: str,
    *,
    input_queue: str,
    output_exchange: str,
    output_queue: str,
    input_exchange: str,
    input_key: str,
    output_key: str,
) -> None:
    """Classic queues for the raw-pika and plain-nameko rows, as nameko declares them."""
    connection = BrokerAddress.from_uri(amqp_uri).connect()
    try:
        channel = connection.channel()
        for exchange in (input_exchange, output_exchange):
            channel.exchange_declare(exchange, "topic", durable=True, auto_delete=False)
        for queue, exchange, key in (
            (input_queue, input_exchange, input_key),
            (output_queue, output_exchange, output_key),
        ):
            channel.queue_declare(queue, durable=True, auto_delete=False)
            channel.queue_bind(queue, exchange, key)
    finally:
        connection.close()


def declare_sink(
    amqp_uri: str, *, output_exchange: str, output_queue: str, output_key: str
) -> None:
    """The sink's queue, bound to a forwarder's output exchange (which the forwarder's own
    framework declared already, with the same arguments: topic, durable)."""
    connection = BrokerAddress.from_uri(amqp_uri).connect()
    try:
        channel = connection.channel()
        channel.exchange_declare(output_exchange, "topic", durable=True, auto_delete=False)
        channel.queue_declare(output_queue, durable=True, auto_delete=False)
        channel.queue_bind(output_queue, output_exchange, output_key)
    finally:
        connection.close()


def prefill(
    amqp_uri: str,
    exchange: str,
    routing_key: str,
    count: int,
    *,
    new_id: Callable[[], str],
    batch: int = 1000,
) -> None:
    """Publish ``count`` inputs (seq 0…count-1), confirmed, before the forwarder starts."""
    publisher = ConfirmingPublisher(BrokerAddress.from_uri(amqp_uri))
    try:
        for start in range(0, count, batch):
            messages = []
            for seq in range(start, min(start + batch, count)):
                body = input_body(seq, time.time_ns(), new_id)
                messages.append(
                    OutgoingMessage(exchange, routing_key, body, input_properties(body))
                )
            publisher.publish(messages)
    finally:
        publisher.close()


def queue_counts(amqp_uri: str, queue: str) -> tuple[int, int]:
    """``(messages ready, consumers)`` of a queue."""
    connection = BrokerAddress.from_uri(amqp_uri).connect()
    try:
        _, messages, consumers = connection.channel().queue_declare(queue, passive=True)
        return messages, consumers
    finally:
        connection.close()


class ConsumerWatcher(threading.Thread):
    """Polls a queue until it has a consumer, then records when (and calls ``on_ready``):
    the start of a closed-loop measurement, excluding the forwarder's start-up."""

    def __init__(
        self,
        amqp_uri: str,
        queue: str,
        on_ready: Callable[[], None],
        interval: float = 0.005,
        timeout: float = 60.0,
    ):
        super().__init__(daemon=True)
        self.amqp_uri, self.queue, self.on_ready = amqp_uri, queue, on_ready
        self.interval, self.timeout = interval, timeout
        self.ready_ns: int | None = None
        self.ready = threading.Event()

    def run(self) -> None:
        connection = BrokerAddress.from_uri(self.amqp_uri).connect()
        try:
            channel = connection.channel()
            deadline = time.monotonic() + self.timeout
            while time.monotonic() < deadline:
                _, _, consumers = channel.queue_declare(self.queue, passive=True)
                if consumers:
                    self.ready_ns = time.time_ns()
                    self.on_ready()
                    self.ready.set()
                    return
                time.sleep(self.interval)
        finally:
            connection.close()


class Sink:
    """Consumes the output queue (auto-ack) and timestamps each output on receipt.

    Outputs are told apart by the ``seq`` they carry: a republished duplicate counts once.
    """

    def __init__(
        self,
        amqp_uri: str,
        queue: str,
        expected: int,
        on_complete: Callable[[], None] = lambda: None,
    ):
        self.expected = expected
        self.on_complete = on_complete
        self.latency_ns: list[int | None] = [None] * expected
        self.received = 0
        self.duplicates = 0
        self.first_ns: int | None = None
        self.last_ns: int | None = None
        self.connection = BrokerAddress.from_uri(amqp_uri).connect()
        channel = self.connection.channel()
        channel.basic_consume(queue, callback=self._on_message, no_ack=True)

    def _on_message(self, message: amqp.Message) -> None:
        now = time.time_ns()
        payload = json.loads(message.body)["payload"]
        seq = payload["seq"]
        if seq >= self.expected or self.latency_ns[seq] is not None:
            self.duplicates += 1
            return
        self.latency_ns[seq] = now - payload["sent_ns"]
        self.received += 1
        self.first_ns = self.first_ns or now
        self.last_ns = now
        if self.received == self.expected:
            self.on_complete()

    def missing(self) -> list[int]:
        """The seqs whose output has not arrived, in order."""
        return [seq for seq, latency in enumerate(self.latency_ns) if latency is None]

    def drain(self, *, timeout: float, until: Callable[[], bool] | None = None) -> bool:
        """Take outputs until all arrived (or ``until``); False on timeout."""
        deadline = time.monotonic() + timeout
        while self.received < self.expected and not (until and until()):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                self.connection.drain_events(timeout=min(remaining, 0.5))
        return True

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.connection.close()
