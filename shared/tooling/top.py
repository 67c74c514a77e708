"""``park top``: the broker's queues, live — depth, rates, consumers — with flags.

A sample is one read of the management API's ``/api/queues/<vhost>``. The flag rules are
pure functions over the samples taken so far (:func:`raise_flags`):

* ``no-consumer``: a service's work queue (one of the topology's subscriptions) that no
  process consumes from — the service is down or was never started;
* ``growing``: a work queue (a service's, or a firm's ``firm.<id>.work``) whose depth
  rose in each of the last ``rising_samples`` samples, or whose publish rate stayed above
  its deliver rate over the last ``rate_window`` seconds of samples with messages waiting;
* ``dead-letters``: a non-empty ``<service>.dlq``;
* ``absent``: a work queue or DLQ of the topology that the broker does not have (run
  ``park topology declare``).

Rates and, on RabbitMQ 3.x, depths are the management plugin's statistics, refreshed
every ``collect_statistics_interval`` (5 s by default): a sample more often than that sees
the same numbers again.

Exit codes of ``park top --once``: 0 nothing flagged, 1 the queues could not be read
(management API unreachable, …), 2 usage, 3 at least one flag raised.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from shared.messaging.topology import (
    FIRM_QUEUE_PATTERN,
    UNROUTED,
    Topology,
    dead_letter_queue,
    retry_exchange,
)

# The kinds of queue, in the order the table shows them.
WORK, FIRM, RETRY, DLQ, UNROUTED_KIND, OTHER = (
    "work",
    "firm",
    "retry",
    "dlq",
    "unrouted",
    "other",
)
KIND_ORDER = (WORK, FIRM, DLQ, UNROUTED_KIND, RETRY, OTHER)

NO_CONSUMER, GROWING, DEAD_LETTERS, ABSENT = "no-consumer", "growing", "dead-letters", "absent"

FLAGGED_EXIT = 3


@dataclass(frozen=True)
class QueueStats:
    """One queue as one sample saw it. Rates are messages per second, None when the
    broker has no statistics for them yet (nothing published or delivered)."""

    name: str
    ready: int
    unacked: int
    consumers: int
    publish_rate: float | None = None
    deliver_rate: float | None = None

    @property
    def depth(self) -> int:
        return self.ready + self.unacked

    @classmethod
    def from_api(cls, entry: Mapping[str, Any]) -> QueueStats:
        """From one element of ``/api/queues/<vhost>``; what is missing or not a number
        counts as 0 (a queue the stats have not reached yet has no counts)."""
        stats = entry.get("message_stats")
        stats = stats if isinstance(stats, Mapping) else {}
        return cls(
            name=str(entry.get("name", "")),
            ready=_count(entry.get("messages_ready")),
            unacked=_count(entry.get("messages_unacknowledged")),
            consumers=_count(entry.get("consumers")),
            publish_rate=_rate(stats.get("publish_details")),
            deliver_rate=_rate(stats.get("deliver_get_details")),
        )


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return 0
    return value


def _rate(details: Any) -> float | None:
    if not isinstance(details, Mapping):
        return None
    rate = details.get("rate")
    if isinstance(rate, bool) or not isinstance(rate, int | float):
        return None
    return float(rate)


@dataclass(frozen=True)
class Sample:
    """Every queue of the vhost at one moment (``at``: seconds, monotonic)."""

    at: float
    queues: Mapping[str, QueueStats]

    @classmethod
    def from_api(cls, at: float, entries: Iterable[Mapping[str, Any]]) -> Sample:
        queues = (QueueStats.from_api(e) for e in entries if isinstance(e, Mapping))
        return cls(at, {queue.name: queue for queue in queues if queue.name})


@dataclass(frozen=True)
class Flag:
    queue: str
    rule: str
    detail: str


@dataclass(frozen=True)
class Kinds:
    """What each queue of the topology is, by name."""

    work: frozenset[str]
    dead_letters: Mapping[str, str]  # DLQ name → service
    retry: frozenset[str]

    @classmethod
    def of(cls, topology: Topology) -> Kinds:
        return cls(
            work=frozenset(s.queue for s in topology.subscriptions),
            dead_letters={dead_letter_queue(s): s for s in topology.services},
            retry=frozenset(
                retry_exchange(service, delay)
                for service in topology.services
                for delay in topology.retry_delays
            ),
        )

    def of_queue(self, name: str) -> str:
        if name in self.work:
            return WORK
        if name in self.dead_letters:
            return DLQ
        if name == UNROUTED:
            return UNROUTED_KIND
        if name in self.retry:
            return RETRY
        if re.match(FIRM_QUEUE_PATTERN, name):
            return FIRM
        return OTHER


def rising(depths: Sequence[int], samples: int) -> bool:
    """Whether the last ``samples`` depths rose at every step (needs that many)."""
    if samples < 2 or len(depths) < samples:
        return False
    last = depths[-samples:]
    return all(before < after for before, after in pairwise(last))


def outpaced(history: Sequence[tuple[float, QueueStats]], window: float) -> bool:
    """Whether publishing outran delivery in every sample of the last ``window`` seconds,
    with messages waiting each time; the samples must span the whole window."""
    if not history or window <= 0:
        return False
    now = history[-1][0]
    recent = [(at, queue) for at, queue in history if at >= now - window]
    if now - recent[0][0] < window:
        older = [(at, queue) for at, queue in history if at < now - window]
        if not older:
            return False  # not watched for long enough yet
        recent.insert(0, older[-1])
    return all(
        queue.depth > 0
        and queue.publish_rate is not None
        and queue.publish_rate > (queue.deliver_rate or 0.0)
        for _, queue in recent
    )


def raise_flags(
    samples: Sequence[Sample],
    kinds: Kinds,
    *,
    rising_samples: int = 3,
    rate_window: float = 30.0,
) -> list[Flag]:
    """The flags the latest sample raises, given the samples before it (oldest first)."""
    if not samples:
        return []
    latest = samples[-1]
    flags: list[Flag] = []
    for name in sorted(kinds.work | set(kinds.dead_letters)):
        if name not in latest.queues:
            flags.append(Flag(name, ABSENT, "not on the broker: run park topology declare"))
    for name, queue in sorted(latest.queues.items()):
        kind = kinds.of_queue(name)
        if kind == WORK and queue.consumers == 0:
            flags.append(Flag(name, NO_CONSUMER, "no consumer: is its service running?"))
        if kind in (WORK, FIRM):
            history = [(s.at, s.queues[name]) for s in samples if name in s.queues]
            depths = [q.depth for _, q in history]
            if rising(depths, rising_samples):
                shown = " → ".join(str(d) for d in depths[-rising_samples:])
                flags.append(Flag(name, GROWING, f"depth rising: {shown}"))
            elif outpaced(history, rate_window):
                flags.append(
                    Flag(name, GROWING, f"published faster than delivered for {rate_window:.0f} s")
                )
        if kind == DLQ and queue.depth > 0:
            flags.append(Flag(name, DEAD_LETTERS, f"{queue.depth} dead letter(s)"))
    return flags


# ---------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------


def _rate_text(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.1f}"


def render(sample: Sample, kinds: Kinds, flags: Sequence[Flag], vhost: str) -> Group:
    """The table of queues, the DLQ and park.unrouted depths, and the flags."""
    flagged: dict[str, list[str]] = {}
    for flag in flags:
        flagged.setdefault(flag.queue, []).append(flag.rule)
    table = Table(
        "queue", "kind", "ready", "unacked", "consumers", "in/s", "out/s", "flags",
        title=f"vhost {vhost}",
    )  # fmt: skip
    ordered = sorted(
        sample.queues.values(), key=lambda q: (KIND_ORDER.index(kinds.of_queue(q.name)), q.name)
    )
    for queue in ordered:
        rules = flagged.get(queue.name, [])
        table.add_row(
            queue.name,
            kinds.of_queue(queue.name),
            str(queue.ready),
            str(queue.unacked),
            str(queue.consumers),
            _rate_text(queue.publish_rate),
            _rate_text(queue.deliver_rate),
            Text(", ".join(rules), style="bold red") if rules else "",
        )
    dead = ", ".join(
        f"{service} {sample.queues[name].depth if name in sample.queues else 'absent'}"
        for name, service in sorted(kinds.dead_letters.items(), key=lambda item: item[1])
    )
    unrouted = sample.queues.get(UNROUTED)
    lines = [
        table,
        Text(f"dead letters: {dead or 'no services'}"),
        Text(f"{UNROUTED}: {unrouted.depth if unrouted else 'absent'}"),
    ]
    if flags:
        lines.append(Text(f"{len(flags)} flag(s):", style="bold red"))
        absent = [f.queue for f in flags if f.rule == ABSENT]
        lines += [Text(f"  {f.queue}: {f.rule} — {f.detail}") for f in flags if f.rule != ABSENT]
        if absent:  # one line: before the first declare every queue is absent
            names = ", ".join(absent)
            lines.append(Text(f"  {ABSENT} (run park topology declare): {names}"))
    else:
        lines.append(Text("no flags"))
    return Group(*lines)


# ---------------------------------------------------------------------------
# The command
# ---------------------------------------------------------------------------

ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", envvar="PARK_CONFIG", help="nameko config file")
]
DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "config" / "development.yaml"


class Watcher:
    """Takes samples from the management API and keeps as many as the rules need."""

    def __init__(
        self,
        read: Callable[[], list[dict]],
        kinds: Kinds,
        rising_samples: int,
        rate_window: float,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.read, self.kinds, self.clock = read, kinds, clock
        self.rising_samples, self.rate_window = rising_samples, rate_window
        self.samples: list[Sample] = []

    def sample(self) -> tuple[Sample, list[Flag]]:
        self.samples.append(Sample.from_api(self.clock(), self.read()))
        # Enough history for both rules; one sample older than the window is kept.
        keep_from = self.samples[-1].at - self.rate_window
        while len(self.samples) > self.rising_samples and self.samples[1].at <= keep_from:
            self.samples.pop(0)
        flags = raise_flags(
            self.samples,
            self.kinds,
            rising_samples=self.rising_samples,
            rate_window=self.rate_window,
        )
        return self.samples[-1], flags


def top(
    once: Annotated[
        bool, typer.Option("--once", help="print one snapshot and exit (3 if anything is flagged)")
    ] = False,
    interval: Annotated[
        float, typer.Option("--interval", min=0.5, help="seconds between samples")
    ] = 5.0,
    samples: Annotated[
        int,
        typer.Option(
            "--samples", min=1, help="with --once: samples to take first (growth needs several)"
        ),
    ] = 1,
    rising_samples: Annotated[
        int, typer.Option("--rising", min=2, help="samples of rising depth that flag growth")
    ] = 3,
    rate_window: Annotated[
        float,
        typer.Option("--rate-window", min=1, help="seconds of publish > deliver that flag growth"),
    ] = 30.0,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Live queues: depth, rates, consumers, dead letters, park.unrouted — with flags for a
    work queue with no consumer, a growing backlog, a non-empty DLQ."""
    from shared.messaging.management import ManagementUnavailable
    from shared.tooling.cli import Context, fail

    context = Context(config)
    management, vhost = context.management(), context.address.vhost
    watcher = Watcher(
        lambda: management.queues(vhost), Kinds.of(context.topology()), rising_samples, rate_window
    )
    console = Console() if sys.stdout.isatty() else Console(width=240)
    flags: list[Flag] = []
    try:
        if not once:
            _live(watcher, console, interval, vhost)
            return
        for taken in range(samples):
            if taken:
                time.sleep(interval)
            sample, flags = watcher.sample()
        console.print(render(sample, watcher.kinds, flags, vhost))
    except typer.Exit:
        raise
    except (ManagementUnavailable, RuntimeError) as error:  # unreachable, 401, no such vhost
        fail(str(error))
    if flags:
        raise typer.Exit(FLAGGED_EXIT)


def _live(watcher: Watcher, console: Console, interval: float, vhost: str) -> None:
    from rich.live import Live

    sample, flags = watcher.sample()
    with Live(render(sample, watcher.kinds, flags, vhost), console=console) as live:
        try:
            while True:
                time.sleep(interval)
                sample, flags = watcher.sample()
                live.update(render(sample, watcher.kinds, flags, vhost))
        except KeyboardInterrupt:
            return
