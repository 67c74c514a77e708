"""The CPU cost of the project hop's parts, in one process, without broker or threads:

    python -m bench.hop_cpu [--events 3000] [--pg-server URL]
    cd var/bench/proto && PYTHONPATH=../../.. python -m bench.hop_cpu   # a copy of shared/

Per event: parse the input (envelope + payload schema), run the handler's unit of work
(inbox claim + state row + outbox row, commit) on a fresh PostgreSQL database, and relay
the outbox to a publisher that only encodes the messages. A profiler-free way to see
what a change of the core saves, and the floor of the hop's cost.
"""

import argparse
import time
from datetime import UTC, datetime

from bench.databases import Postgres
from bench.forwarders.project import SUBSCRIPTIONS, TABLES, forward_item
from bench.messages import input_body
from shared.contract import parse
from shared.db import Database
from shared.messaging.outbox import Relay
from shared.messaging.unit_of_work import Cause, UnitOfWork


class EncodingPublisher:
    """Stands in for the broker: builds each AMQP message, sends nothing."""

    def publish(self, messages) -> None:
        for message in messages:
            message.to_amqp()

    def close(self) -> None:
        pass


def clock() -> datetime:
    return datetime.now(UTC)


def measure(database_url: str, events: int) -> dict[str, float]:
    database = Database(database_url)
    consumer = ".".join(SUBSCRIPTIONS[0])
    bodies = [input_body(seq, time.time_ns()) for seq in range(events)]
    timings = {"parse": 0.0, "unit_of_work": 0.0, "relay": 0.0}
    relay = Relay(database, TABLES.outbox, EncodingPublisher(), clock=clock)
    for body in bodies:
        started = time.process_time()
        event = parse(body)
        parsed = time.process_time()
        with UnitOfWork(
            database,
            TABLES,
            source="benchfwd",
            clock=clock,
            cause=Cause.of(event),
            consumed=(consumer, event),
        ) as uow:
            forward_item(uow, event)
            uow.commit()
        timings["parse"] += parsed - started
        timings["unit_of_work"] += time.process_time() - parsed
    started = time.process_time()
    relay.relay_all()
    timings["relay"] = time.process_time() - started
    database.dispose()
    return {name: seconds / events * 1e6 for name, seconds in timings.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--pg-server", default="postgresql://postgres@127.0.0.1:5432")
    args = parser.parse_args()
    with Postgres(args.pg_server).database("hop-cpu") as url:
        per_event = measure(url, args.events)
    total = sum(per_event.values())
    for name, micros in per_event.items():
        print(f"{name:<14} {micros:8.0f} µs CPU per event")
    print(f"{'total':<14} {total:8.0f} µs CPU per event (this process only)")


if __name__ == "__main__":
    main()
