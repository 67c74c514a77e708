"""Every publish is mandatory: what no queue takes raises, nothing vanishes."""

import nameko
import pytest

from shared.messaging.amqp_client import BrokerAddress, ConfirmingPublisher, OutgoingMessage
from shared.messaging.declare import declare_topology
from shared.messaging.errors import PublishFailed, Unroutable
from shared.messaging.topology import build_topology
from tests.support.broker import get_messages, queue_depth


@pytest.fixture
def broker(rabbit_config):
    """A declared topology (alpha consumes probe/thing_happened) on this test's vhost."""
    uri = nameko.config["AMQP_URI"]
    declare_topology(
        build_topology(
            [("alpha", "probe", "thing_happened")], services=("alpha",), sources=("probe",)
        ),
        uri,
    )
    publisher = ConfirmingPublisher(BrokerAddress.from_uri(uri))
    yield uri, publisher
    publisher.close()


def to_queue(queue: str, body: bytes = b"{}") -> OutgoingMessage:
    return OutgoingMessage("", queue, body, {"message_id": body.decode()})


def test_a_message_to_a_queue_that_does_not_exist_raises_unroutable(broker):
    uri, publisher = broker

    with pytest.raises(Unroutable) as raised:
        publisher.publish([to_queue("alpha.dlq", b"1"), to_queue("alpha.gone", b"2")])

    assert raised.value.indices == (1,)
    assert "NO_ROUTE" in str(raised.value)
    assert queue_depth(uri, "alpha.dlq") == 1  # the routable one was delivered


def test_work_for_a_firm_without_a_queue_is_returned_not_lost(broker):
    _, publisher = broker

    with pytest.raises(Unroutable):
        publisher.publish([OutgoingMessage("ticketing.work", "law-99", b"{}")])


def test_a_retry_exchange_that_does_not_exist_raises_and_the_publisher_recovers(broker):
    uri, publisher = broker
    gone = OutgoingMessage("alpha.retry.7s", "alpha.probe.thing_happened", b"{}")

    with pytest.raises(Unroutable) as raised:
        publisher.publish([to_queue("alpha.dlq", b"1"), gone])

    assert raised.value.indices == (1,)
    assert "alpha.retry.7s" in str(raised.value) and "topology declare" in str(raised.value)
    publisher.publish([to_queue("alpha.dlq", b"3")])  # a fresh connection
    assert {m.body for m in get_messages(uri, "alpha.dlq")} >= {b"3"}


def test_an_event_nobody_subscribes_to_is_routed_to_park_unrouted(broker):
    uri, publisher = broker

    publisher.publish([OutgoingMessage("probe.events", "nobody_listens", b"{}")])

    assert queue_depth(uri, "park.unrouted") == 1


def test_a_message_the_broker_refuses_raises_publish_failed(broker):
    uri, publisher = broker
    connection = BrokerAddress.from_uri(uri).connect()
    connection.channel().queue_declare(
        "full",
        durable=True,
        auto_delete=False,
        arguments={"x-queue-type": "classic", "x-max-length": 1, "x-overflow": "reject-publish"},
    )
    connection.close()
    publisher.publish([to_queue("full", b"1")])

    with pytest.raises(PublishFailed, match="nack") as raised:
        publisher.publish([to_queue("full", b"2")])

    assert not isinstance(raised.value, Unroutable)


def test_a_publisher_connection_gives_up_on_a_write_that_blocks(broker):
    # SO_SNDTIMEO (py-amqp's write_timeout) does nothing on eventlet's non-blocking green
    # sockets, which is where the services publish: the socket's own timeout must be set.
    _, publisher = broker
    publisher.publish([to_queue("alpha.dlq", b"1")])

    sock = publisher._connection.transport.sock
    assert sock.gettimeout() == publisher.write_timeout
    assert publisher._connection.heartbeat > 0


def test_a_batch_goes_out_in_one_write_and_arrives_whole_and_in_order(broker, monkeypatch):
    uri, publisher = broker
    publisher.publish([to_queue("alpha.dlq", b"warm-up")])  # the connection exists now
    get_messages(uri, "alpha.dlq")
    writes = []
    transport = publisher._connection.transport
    real_write = transport.write
    monkeypatch.setattr(
        transport, "write", lambda data: writes.append(len(data)) or real_write(data)
    )
    # Small bodies, and one larger than a frame (split into body frames by py-amqp).
    bodies = [f"{i:04d}".encode() for i in range(300)]
    bodies[150] = b"x" * 300_000

    publisher.publish(
        [
            OutgoingMessage("", "alpha.dlq", body, {"message_id": str(i)})
            for i, body in enumerate(bodies)
        ]
    )

    assert len(writes) == 1 and writes[0] > 300_000
    assert [m.body for m in get_messages(uri, "alpha.dlq")] == bodies
