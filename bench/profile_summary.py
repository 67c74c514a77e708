"""Where a forwarder's CPU goes, from a ``python -m bench --profile`` file (py-spy, raw):

    python -m bench.profile_summary var/bench/profiles/project-pg-10000-run1.txt

Each sample is put in the first bucket (in the order below) one of whose frames it
holds, so the buckets add up to 100 %.
"""

import argparse
from collections import Counter
from pathlib import Path

BUCKETS = (
    ("relay: claim rows, publish, confirm, mark sent", ("RelayLoop.run",)),
    ("consume: parse and validate the envelope", ("parse (shared/contract/envelope.py",)),
    ("consume: receive, route, spawn the worker", ("ConsumerMixin.run", "HandleEvent.")),
    ("worker: inbox claim (INSERT … ON CONFLICT)", ("claim_inbox",)),
    ("worker: emit — build and validate the event", ("build (shared/contract/envelope.py",)),
    ("worker: emit — INSERT the outbox row", ("stage (shared/messaging/outbox.py",)),
    ("worker: the state row (INSERT)", ("forward_item",)),
    ("worker: commit", ("UnitOfWork.commit",)),
    ("worker: open/close the unit of work (session, pool)", ("UnitOfWork.",)),
    ("worker: ack, nameko worker machinery, logs, metrics", ("_run_worker", "handle_result")),
)


def summarise(path: Path) -> list[tuple[str, float]]:
    counts: Counter = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, number = line.rpartition(" ")
        if not number.isdigit():
            continue
        total += int(number)
        bucket = next(
            (name for name, marks in BUCKETS if any(mark in stack for mark in marks)),
            "other: eventlet hub, start-up, harness",
        )
        counts[bucket] += int(number)
    return [(name, 100 * count / total) for name, count in counts.most_common()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile", type=Path)
    for name, share in summarise(parser.parse_args().profile):
        print(f"{share:5.1f} %  {name}")


if __name__ == "__main__":
    main()
