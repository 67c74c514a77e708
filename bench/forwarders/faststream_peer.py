"""What a Python team writes today with FastStream instead of nameko: a RabbitMQ subscriber
that forwards each input (row ``faststream``), or that first inserts the state row through
asyncpg and then forwards (row ``faststream-db``). Its own asyncio process; never imported
by anything nameko runs.

    python -m bench.forwarders.faststream_peer --amqp-uri URI [--database-url URL] [--prefetch N]
    python -m bench.forwarders.faststream_peer --amqp-uri URI --declare-only

FastStream's defaults are kept, as a new user gets them:

* ack policy ``REJECT_ON_ERROR``: the input is acked after the handler returned, rejected
  (not requeued) if it raised;
* no prefetch limit (``Channel.prefetch_count=None``: no ``basic.qos`` at all), so the
  broker pushes the whole backlog and aio-pika runs one task per delivery (``--prefetch``
  sets one, for a comparison: the bench's ``--faststream-prefetch``);
* publisher confirms on (``Channel.publisher_confirms=True``): ``broker.publish`` awaits
  the broker's confirm of that message;
* queues and exchanges declared by FastStream (durable, classic ``x-queue-type``);
* asyncpg's pool defaults (10 connections), autocommit: ``pool.execute`` of one INSERT is
  its own transaction, committed before the publish.

Two settings differ from the defaults, for the same bytes and guarantees as every other
row: outputs are published persistent (``persist=True``; the default is transient), and
per-message logging is off (the log level is WARNING, as for the project rows).
"""

import argparse
import asyncio
import json
import logging
from datetime import UTC, datetime
from typing import Any

import asyncpg
from faststream import FastStream
from faststream.rabbit import Channel, ExchangeType, RabbitBroker, RabbitExchange, RabbitQueue

from bench.contract import GENERATOR_SOURCE, INPUT_TYPE, OUTPUT_TYPE
from bench.messages import CONTENT_TYPE, forwarded_envelope

SERVICE = "fastfwd"
INPUT_EXCHANGE = RabbitExchange(f"{GENERATOR_SOURCE}.events", type=ExchangeType.TOPIC)
OUTPUT_EXCHANGE = RabbitExchange(f"{SERVICE}.events", type=ExchangeType.TOPIC)
INPUT_QUEUE = RabbitQueue(f"{SERVICE}.{GENERATOR_SOURCE}.{INPUT_TYPE}", routing_key=INPUT_TYPE)
"""FastStream's own declaration of the input queue (durable, classic), bound by key."""

# The same row project-pg and nameko-db insert into bench_items, as an asyncpg user writes it.
RECORD_ITEM = (
    "INSERT INTO bench_items (item_id, seq, amount_fen, recorded_at) VALUES ($1, $2, $3, $4)"
)


def build_app(amqp_uri: str, database_url: str | None, prefetch: int | None = None) -> FastStream:
    """The service: a broker, one subscriber, and (with a database) an asyncpg pool."""
    if prefetch is None:
        broker = RabbitBroker(amqp_uri)  # FastStream's default channel: no prefetch limit
    else:
        broker = RabbitBroker(amqp_uri, default_channel=Channel(prefetch_count=prefetch))
    app = FastStream(broker)
    state: dict[str, Any] = {}

    if database_url is not None:

        @app.on_startup
        async def open_pool() -> None:
            state["pool"] = await asyncpg.create_pool(database_url)

        @app.after_shutdown
        async def close_pool() -> None:
            await state["pool"].close()

    @broker.subscriber(INPUT_QUEUE, INPUT_EXCHANGE)
    async def on_work_requested(envelope: dict[str, Any]) -> None:
        if database_url is not None:
            payload = envelope["payload"]
            await state["pool"].execute(
                RECORD_ITEM,
                payload["item_id"],
                payload["seq"],
                payload["amount_fen"],
                datetime.now(UTC),
            )
        output = forwarded_envelope(SERVICE, envelope)
        await broker.publish(
            json.dumps(output).encode(),
            exchange=OUTPUT_EXCHANGE,
            routing_key=OUTPUT_TYPE,
            persist=True,
            content_type=CONTENT_TYPE,
            message_id=output["event_id"],
            correlation_id=output["correlation_id"],
            message_type=OUTPUT_TYPE,
        )

    return app


async def declare(amqp_uri: str) -> None:
    """Declare the input exchange and queue and bind them, exactly as the subscriber above
    will, so the bench can pre-fill the queue before the forwarder starts."""
    broker = RabbitBroker(amqp_uri)
    await broker.connect()
    try:
        queue = await broker.declare_queue(INPUT_QUEUE)
        exchange = await broker.declare_exchange(INPUT_EXCHANGE)
        await queue.bind(exchange, routing_key=INPUT_TYPE)
        await broker.declare_exchange(OUTPUT_EXCHANGE)
    finally:
        await broker.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--amqp-uri", required=True)
    parser.add_argument("--database-url", default=None, help="PostgreSQL: row faststream-db")
    parser.add_argument(
        "--prefetch", type=int, default=None, help="a prefetch limit (default: none, as FastStream)"
    )
    parser.add_argument("--declare-only", action="store_true")
    args = parser.parse_args()
    amqp_uri = args.amqp_uri.replace("pyamqp://", "amqp://")
    if args.declare_only:
        asyncio.run(declare(amqp_uri))
        return
    app = build_app(amqp_uri, args.database_url, args.prefetch)
    asyncio.run(app.run(log_level=logging.WARNING))


if __name__ == "__main__":
    main()
