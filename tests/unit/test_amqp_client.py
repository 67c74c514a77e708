"""The confirming publisher against a fake connection: confirms, nacks, timeouts,
returns, and the connection settings it asks for."""

from collections import defaultdict

import amqp
import pytest

from shared.messaging.amqp_client import (
    BrokerAddress,
    ConfirmingPublisher,
    OutgoingMessage,
    _CorkedTransport,
)
from shared.messaging.errors import PublishFailed, Unroutable


class FakeChannel:
    """Records publishes; the test decides how the broker answers each one."""

    def __init__(self, answer):
        self.answer = answer  # (channel, delivery_tag, message) -> None
        self.events = defaultdict(set)
        self.published = []
        self.pending = []

    def confirm_select(self):
        pass

    def basic_publish(self, message, exchange="", routing_key="", mandatory=False):
        self.published.append((exchange, routing_key, message, mandatory))
        self.pending.append((len(self.published), exchange, routing_key, message))

    def ack(self, tag, multiple=False):
        for callback in self.events["basic_ack"]:
            callback(tag, multiple)

    def nack(self, tag, multiple=False):
        for callback in self.events["basic_nack"]:
            callback(tag, multiple)

    def give_back(self, exchange, routing_key, message):
        error = amqp.exceptions.error_for_code(312, "NO_ROUTE", (60, 50), amqp.ChannelError)
        for callback in self.events["basic_return"]:
            callback(error, exchange, routing_key, message)


class FakeTransport:
    def __init__(self):
        self.writes = []

    def write(self, data):
        self.writes.append(bytes(data))


class FakeConnection:
    frame_max = 131072  # what py-amqp's frame writer reads
    bytes_sent = 0

    def __init__(self, answer):
        self.channel_ = FakeChannel(answer)
        self.transport = FakeTransport()
        self.connected = True
        self.heartbeat = 0
        self.ticks = 0

    def channel(self):
        return self.channel_

    def heartbeat_tick(self):
        self.ticks += 1

    def drain_events(self, timeout=None):
        channel = self.channel_
        if not channel.pending:
            raise TimeoutError
        while channel.pending:
            tag, exchange, routing_key, message = channel.pending.pop(0)
            channel.answer(channel, tag, exchange, routing_key, message)

    def collect(self):
        self.connected = False


class FakeAddress(BrokerAddress):
    """Hands out fake connections, one per answer function, in order."""

    def __new__(cls, *answers):
        address = super().__new__(cls)
        object.__setattr__(address, "answers", list(answers))
        object.__setattr__(address, "connections", [])
        object.__setattr__(address, "connect_kwargs", [])
        return address

    def __init__(self, *answers):
        super().__init__("fake", 5672, "svc", "secret", "/")

    def connect(self, **kwargs):
        self.connect_kwargs.append(kwargs)
        connection = FakeConnection(self.answers.pop(0))
        self.connections.append(connection)
        return connection


def acks(channel, tag, exchange, routing_key, message):
    channel.ack(tag)


def nacks(channel, tag, exchange, routing_key, message):
    channel.nack(tag)


def never_answers(channel, tag, exchange, routing_key, message):
    pass


def returns_queue_b(channel, tag, exchange, routing_key, message):
    if routing_key == "b":  # RabbitMQ sends basic.return before the basic.ack
        channel.give_back(exchange, routing_key, message)
    channel.ack(tag)


def batch(*routing_keys):
    return [OutgoingMessage("", key, f"body-{key}".encode()) for key in routing_keys]


def test_a_confirmed_batch_is_published_mandatory_and_returns():
    address = FakeAddress(acks)
    ConfirmingPublisher(address).publish(batch("a", "b"))

    [connection] = address.connections
    assert [(key, mandatory) for _, key, _, mandatory in connection.channel_.published] == [
        ("a", True),
        ("b", True),
    ]


def test_a_nacked_message_raises_publish_failed():
    publisher = ConfirmingPublisher(FakeAddress(nacks))

    with pytest.raises(PublishFailed, match="nack"):
        publisher.publish(batch("a"))


def test_a_returned_message_raises_unroutable_naming_its_index_in_the_batch():
    publisher = ConfirmingPublisher(FakeAddress(returns_queue_b))

    with pytest.raises(Unroutable) as raised:
        publisher.publish(batch("a", "b", "c"))

    assert raised.value.indices == (1,)
    assert "NO_ROUTE" in str(raised.value)
    assert isinstance(raised.value, PublishFailed)


def test_of_two_identical_returned_messages_each_is_named_once():
    publisher = ConfirmingPublisher(FakeAddress(returns_queue_b))

    with pytest.raises(Unroutable) as raised:
        publisher.publish(batch("b", "a", "b"))

    assert raised.value.indices == (0, 2)


def test_a_confirm_timeout_is_retried_once_on_a_fresh_connection():
    address = FakeAddress(never_answers, acks)
    publisher = ConfirmingPublisher(address, confirm_timeout=0.05)

    publisher.publish(batch("a"))

    assert len(address.connections) == 2
    assert not address.connections[0].connected  # the stuck connection was dropped


def test_two_confirm_timeouts_raise_publish_failed():
    publisher = ConfirmingPublisher(FakeAddress(never_answers, never_answers), confirm_timeout=0.05)

    with pytest.raises(PublishFailed, match="unconfirmed"):
        publisher.publish(batch("a"))


def test_publisher_connections_have_heartbeats_and_a_write_timeout():
    address = FakeAddress(acks)
    ConfirmingPublisher(address).publish(batch("a"))

    [kwargs] = address.connect_kwargs
    assert kwargs["heartbeat"] > 0
    assert kwargs["write_timeout"] > 0


def test_a_connection_idle_for_a_heartbeat_interval_is_replaced_before_use():
    address = FakeAddress(acks, acks)
    publisher = ConfirmingPublisher(address, heartbeat=60)
    publisher.publish(batch("a"))

    publisher._last_used -= 61  # a minute of silence: the broker may have dropped it
    publisher.publish(batch("b"))

    assert len(address.connections) == 2


def test_a_connection_in_use_is_kept():
    address = FakeAddress(acks, acks)
    publisher = ConfirmingPublisher(address, heartbeat=60)

    publisher.publish(batch("a"))
    publisher.publish(batch("b"))

    assert len(address.connections) == 1


def test_corked_frames_go_out_in_one_write_when_the_batch_is_built():
    transport = FakeTransport()
    corked = _CorkedTransport(transport)
    buffer = bytearray(b"frame-1")
    with corked.corked():
        corked.write(memoryview(buffer))
        buffer[:] = b"frame-2"  # py-amqp reuses its buffer for the next frame
        corked.write(memoryview(buffer))
        assert transport.writes == []
    assert transport.writes == [b"frame-1frame-2"]
    corked.write(b"heartbeat")  # uncorked: straight through
    assert transport.writes[-1] == b"heartbeat"


def test_a_batch_that_fails_to_build_sends_none_of_its_frames():
    transport = FakeTransport()
    corked = _CorkedTransport(transport)
    with pytest.raises(ValueError), corked.corked():
        corked.write(b"frame-1")
        raise ValueError("a message that cannot be encoded")
    assert transport.writes == []
    corked.write(b"next")
    assert transport.writes == [b"next"]
