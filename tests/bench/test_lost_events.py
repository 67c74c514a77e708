"""When an open-loop run loses an event, the bench says where it stopped: the generator
counts the inputs the broker confirmed, refused or never confirmed, and the runner asks
the forwarder's database whether the lost ones were applied."""

from datetime import UTC, datetime

from sqlalchemy import create_engine, insert

from bench.broker import Broker
from bench.contract import GENERATOR_SOURCE, INPUT_TYPE
from bench.databases import Postgres, applied_seqs
from bench.forwarders.project import items
from bench.generator import generate
from shared.db import normalise_url
from shared.messaging.amqp_client import BrokerAddress
from shared.messaging.topology import events_exchange


def test_the_generator_counts_the_inputs_the_broker_refused():
    broker = Broker()
    with broker.vhost("generator") as vhost:
        uri = broker.uri(vhost)
        connection = BrokerAddress.from_uri(uri).connect()
        try:
            channel = connection.channel()
            exchange = events_exchange(GENERATOR_SOURCE)
            channel.exchange_declare(exchange, "topic", durable=True, auto_delete=False)
            # A queue that takes one input and refuses the others (nack to a confirming
            # publisher; an unconfirmed one would never know).
            channel.queue_declare(
                "full",
                durable=True,
                auto_delete=False,
                arguments={"x-max-length": 1, "x-overflow": "reject-publish"},
            )
            channel.queue_bind("full", exchange, INPUT_TYPE)
        finally:
            connection.close()

        stats = generate(uri, rate=200, count=3)

    assert (stats["confirmed"], stats["nacked"], stats["unconfirmed"]) == (1, 2, 0)


def test_the_runner_finds_which_lost_events_the_forwarder_applied():
    with Postgres().database("lost") as url:
        engine = create_engine(normalise_url(url))
        try:
            with engine.begin() as connection:
                connection.execute(
                    insert(items),
                    [
                        {"item_id": f"item-{seq}", "seq": seq, "amount_fen": 1, "recorded_at": now}
                        for seq, now in ((1, datetime.now(UTC)), (3, datetime.now(UTC)))
                    ],
                )
        finally:
            engine.dispose()

        assert applied_seqs(url, [1, 2, 3]) == {1, 3}
        assert applied_seqs(url, [2]) == set()
