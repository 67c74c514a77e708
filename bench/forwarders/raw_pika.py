"""The best one-hop forwarder a careful engineer writes with pika alone.

Consume with a prefetch window; for each input publish the result persistent on a
channel in confirm mode (asynchronous: many publishes in flight); ack an input only once
the broker confirmed its output — with ``multiple`` when a confirm covers a run of them.

    python -m bench.forwarders.raw_pika --amqp-uri amqp://…/vhost --queue Q --exchange X
"""

import argparse
import json
import signal
from collections import OrderedDict

import pika

from bench.messages import CONTENT_TYPE, forwarded_envelope

SOURCE = "rawfwd"


class RawPikaForwarder:
    """One connection, one channel: consume, publish, confirm, ack — all asynchronous."""

    def __init__(self, amqp_uri: str, queue: str, exchange: str, routing_key: str, prefetch: int):
        self.parameters = pika.URLParameters(amqp_uri.replace("pyamqp://", "amqp://"))
        self.queue, self.exchange, self.routing_key = queue, exchange, routing_key
        self.prefetch = prefetch
        self.connection: pika.SelectConnection | None = None
        self.channel = None
        self.next_publish = 1
        self.unconfirmed: OrderedDict[int, int] = OrderedDict()  # publish seq → delivery tag

    def run(self) -> None:
        self.connection = pika.SelectConnection(
            self.parameters,
            on_open_callback=self._on_open,
            on_close_callback=lambda _conn, reason: self.connection.ioloop.stop(),
        )
        self.connection.ioloop.start()

    def stop(self) -> None:
        self.connection.ioloop.add_callback_threadsafe(self.connection.close)

    def _on_open(self, connection) -> None:
        connection.channel(on_open_callback=self._on_channel)

    def _on_channel(self, channel) -> None:
        self.channel = channel
        channel.confirm_delivery(self._on_confirm)
        channel.basic_qos(prefetch_count=self.prefetch)
        channel.basic_consume(self.queue, self._on_message)

    def _on_message(self, channel, method, _properties, body: bytes) -> None:
        output = forwarded_envelope(SOURCE, json.loads(body))
        channel.basic_publish(
            self.exchange,
            self.routing_key,
            json.dumps(output).encode(),
            pika.BasicProperties(
                delivery_mode=2,
                content_type=CONTENT_TYPE,
                message_id=output["event_id"],
                correlation_id=output["correlation_id"],
                type=output["type"],
                app_id=SOURCE,
            ),
        )
        self.unconfirmed[self.next_publish] = method.delivery_tag
        self.next_publish += 1

    def _on_confirm(self, frame) -> None:
        confirm = frame.method
        settled = self._settle(confirm.delivery_tag, confirm.multiple)
        if not settled:
            return
        if isinstance(confirm, pika.spec.Basic.Ack):
            if confirm.multiple:
                # Publishes follow deliveries in order, so every unacked delivery up to
                # the last settled one is confirmed: one multiple ack covers them.
                self.channel.basic_ack(settled[-1], multiple=True)
            else:
                self.channel.basic_ack(settled[0])
        else:
            for delivery_tag in settled:  # the broker refused the output: retry the input
                self.channel.basic_nack(delivery_tag, requeue=True)

    def _settle(self, publish_tag: int, multiple: bool) -> list[int]:
        if not multiple:
            tag = self.unconfirmed.pop(publish_tag, None)
            return [] if tag is None else [tag]
        settled = []
        while self.unconfirmed:
            first = next(iter(self.unconfirmed))
            if first > publish_tag:
                break
            settled.append(self.unconfirmed.pop(first))
        return settled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--amqp-uri", required=True)
    parser.add_argument("--queue", required=True)
    parser.add_argument("--exchange", required=True)
    parser.add_argument("--routing-key", default="work_forwarded")
    parser.add_argument("--prefetch", type=int, default=256)
    args = parser.parse_args()
    forwarder = RawPikaForwarder(
        args.amqp_uri, args.queue, args.exchange, args.routing_key, args.prefetch
    )
    signal.signal(signal.SIGTERM, lambda *_: forwarder.stop())
    forwarder.run()


if __name__ == "__main__":
    main()
