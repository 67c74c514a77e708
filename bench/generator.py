"""The open-loop load generator: publishes inputs at a constant rate, whatever the
forwarder does, each stamped with the time it was *due* to be sent — so a generator that
falls behind adds its lag to the measured latency instead of hiding it.

Its channel is in confirm mode, without waiting for each confirm in turn (that would cap
the rate at one round trip per input): confirms are taken while it waits for the next due
time, and the rest at the end. Its statistics say how many inputs the broker confirmed,
refused or never confirmed, so an input missing at the sink can be told apart from one
the broker never took.

    python -m bench.generator --amqp-uri URI --rate 1000 --count 20000
"""

import argparse
import json
import time

import amqp

from bench.contract import GENERATOR_SOURCE, INPUT_TYPE
from bench.ids import ID_SCHEMES
from bench.messages import input_body, input_properties
from shared.messaging.amqp_client import BrokerAddress
from shared.messaging.topology import events_exchange

CONFIRM_TIMEOUT = 30.0  # seconds, after the last publish


class _Confirms:
    """Delivery tags published and not yet confirmed; tags the broker refused (nack)."""

    def __init__(self) -> None:
        self.unconfirmed: set[int] = set()
        self.nacked = 0

    def _settle(self, delivery_tag: int, multiple: bool) -> int:
        settled = {t for t in self.unconfirmed if t <= delivery_tag} if multiple else {delivery_tag}
        settled &= self.unconfirmed
        self.unconfirmed -= settled
        return len(settled)

    def on_ack(self, delivery_tag: int, multiple: bool) -> None:
        self._settle(delivery_tag, multiple)

    def on_nack(self, delivery_tag: int, multiple: bool) -> None:
        self.nacked += self._settle(delivery_tag, multiple)


def _drain(connection: amqp.Connection, seconds: float) -> None:
    """Take confirms for up to ``seconds`` (at least one non-blocking look)."""
    deadline = time.monotonic() + max(seconds, 0.0)
    while True:
        try:
            connection.drain_events(timeout=max(deadline - time.monotonic(), 0.0001))
        except TimeoutError:
            return
        if time.monotonic() >= deadline:
            return


def generate(amqp_uri: str, rate: float, count: int, id_scheme: str = "uuid4") -> dict:
    connection = BrokerAddress.from_uri(amqp_uri).connect()
    channel = connection.channel()
    confirms = _Confirms()
    channel.confirm_select()
    channel.events["basic_ack"].add(confirms.on_ack)
    channel.events["basic_nack"].add(confirms.on_nack)
    exchange, routing_key = events_exchange(GENERATOR_SOURCE), INPUT_TYPE
    period_ns = 1e9 / rate
    start_ns = time.time_ns() + 20_000_000
    worst_lag_ns = 0
    new_id = ID_SCHEMES[id_scheme]
    for seq in range(count):
        due_ns = start_ns + int(seq * period_ns)
        ahead = due_ns - time.time_ns()
        if ahead > 0:
            _drain(connection, ahead / 1e9)  # confirms meanwhile, instead of sleeping
            ahead = due_ns - time.time_ns()
            if ahead > 0:
                time.sleep(ahead / 1e9)
        else:
            worst_lag_ns = max(worst_lag_ns, -ahead)
            if seq % 100 == 0:  # behind: still read the confirms, so they never pile up
                _drain(connection, 0)
        body = input_body(seq, due_ns, new_id)
        channel.basic_publish(
            amqp.Message(body, **input_properties(body)), exchange=exchange, routing_key=routing_key
        )
        confirms.unconfirmed.add(seq + 1)  # delivery tags count from 1 on this channel
    elapsed = (time.time_ns() - start_ns) / 1e9
    deadline = time.monotonic() + CONFIRM_TIMEOUT
    while confirms.unconfirmed and time.monotonic() < deadline:
        _drain(connection, min(0.5, deadline - time.monotonic()))
    connection.close()
    return {
        "count": count,
        "rate": rate,
        "achieved_rate": count / elapsed if elapsed else 0,
        "worst_lag_ms": worst_lag_ns / 1e6,
        "confirmed": count - confirms.nacked - len(confirms.unconfirmed),
        "nacked": confirms.nacked,
        "unconfirmed": len(confirms.unconfirmed),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--amqp-uri", required=True)
    parser.add_argument("--rate", type=float, required=True, help="events per second")
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--input-ids", choices=sorted(ID_SCHEMES), default="uuid4")
    args = parser.parse_args()
    print(json.dumps(generate(args.amqp_uri, args.rate, args.count, args.input_ids)), flush=True)


if __name__ == "__main__":
    main()
