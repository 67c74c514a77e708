"""The open-loop load generator: publishes inputs at a constant rate, whatever the
forwarder does, each stamped with the time it was *due* to be sent — so a generator that
falls behind adds its lag to the measured latency instead of hiding it.

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


def generate(amqp_uri: str, rate: float, count: int, id_scheme: str = "uuid4") -> dict:
    connection = BrokerAddress.from_uri(amqp_uri).connect()
    channel = connection.channel()
    exchange, routing_key = events_exchange(GENERATOR_SOURCE), INPUT_TYPE
    period_ns = 1e9 / rate
    start_ns = time.time_ns() + 20_000_000
    worst_lag_ns = 0
    new_id = ID_SCHEMES[id_scheme]
    for seq in range(count):
        due_ns = start_ns + int(seq * period_ns)
        ahead = due_ns - time.time_ns()
        if ahead > 0:
            time.sleep(ahead / 1e9)
        else:
            worst_lag_ns = max(worst_lag_ns, -ahead)
        body = input_body(seq, due_ns, new_id)
        channel.basic_publish(
            amqp.Message(body, **input_properties(body)), exchange=exchange, routing_key=routing_key
        )
    elapsed = (time.time_ns() - start_ns) / 1e9
    connection.close()
    return {
        "count": count,
        "rate": rate,
        "achieved_rate": count / elapsed if elapsed else 0,
        "worst_lag_ms": worst_lag_ns / 1e6,
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
