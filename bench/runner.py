"""One measurement of one row: closed loop (pre-filled queue, throughput and CPU) or open
loop (constant-rate generator, end-to-end latency). Each starts the forwarder as its own
OS process on a fresh vhost and database, and stops it afterwards."""

import contextlib
import json
import math
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench import procstats
from bench.broker import ConsumerWatcher, Sink, prefill
from bench.databases import applied_seqs, count_state_rows
from bench.ids import ID_SCHEMES
from bench.rows import ROOT, Context, Row, forwarder_environment, prepared
from bench.stopping import uninterrupted

BROKER_PROCESS = "beam.smp"
POSTGRES_PROCESS = "postgres"


class MeasurementFailed(RuntimeError):
    """A forwarder died or did not deliver every output in time (see its log)."""


@dataclass
class ClosedLoop:
    events: int
    seconds: float
    throughput: float
    cpu_s_per_1k: dict[str, float]  # per process: the forwarder; broker and PostgreSQL too
    peak_rss_mb: dict[str, float]
    duplicates: int
    received: int = 0  # distinct outputs (by seq) the sink took: every input's, or it failed
    state_rows: int | None = None  # bench_items rows written, for the rows with a database


@dataclass
class OpenLoop:
    rate: float
    events: int  # measured: the inputs after the warm-up
    lost: int  # inputs, the warm-up's included, whose output never reached the sink
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    generator: dict = field(default_factory=dict)  # with the broker's confirms of the inputs
    inputs: int = 0  # published: the warm-up's and the measured ones
    missing: list[int] = field(default_factory=list)  # seqs of the lost ones (the first 20)
    # Of the lost ones, how many the forwarder did apply (a bench_items row: the output
    # went missing after the commit); None for a row without a database.
    missing_applied: int | None = None


@contextlib.contextmanager
def forwarder_process(
    command: list[str], log_path: Path, context: Context, profile: Path | None = None
) -> Iterator[subprocess.Popen]:
    """Run a forwarder; with ``profile``, py-spy samples it into that file (collapsed
    stacks, one line per stack: ``frame;frame;… count``)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = forwarder_environment(context)
    with open(log_path, "wb") as log, _killed_at_the_end() as started:
        with uninterrupted():
            process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )
            started.append(process)
        if profile is not None:
            profile.parent.mkdir(parents=True, exist_ok=True)
            # py-spy stops by itself when the forwarder exits.
            subprocess.Popen(
                [
                    str(Path(sys.executable).with_name("py-spy")),
                    "record",
                    "--pid",
                    str(process.pid),
                    "--rate",
                    "250",
                    "--format",
                    "raw",
                    "--output",
                    str(profile),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        yield process


@contextlib.contextmanager
def _killed_at_the_end() -> Iterator[list[subprocess.Popen]]:
    """The processes put in the list are killed when the block ends, however it ends —
    measured already, and their vhost and database are thrown away next: no graceful stop
    needed (and none to wait for)."""
    started: list[subprocess.Popen] = []
    try:
        yield started
    finally:
        with uninterrupted():
            for process in started:
                if process.poll() is None:
                    process.kill()
                process.wait()


def _failed(row: Row, log_path: Path, what: str) -> MeasurementFailed:
    tail = log_path.read_text(errors="replace")[-2000:] if log_path.exists() else ""
    return MeasurementFailed(f"{row.label}: {what}; last lines of {log_path}:\n{tail}")


def closed_loop(row: Row, context: Context, events: int, tag: str) -> ClosedLoop:
    """Pre-fill the input queue with ``events``, start the forwarder, time it from its
    first consumer to the last output received."""
    log_path = context.work_dir / "logs" / f"{tag}.log"
    with prepared(row, context, tag) as setup:
        prefill(
            setup.amqp_uri,
            setup.input_exchange,
            setup.input_key,
            events,
            new_id=ID_SCHEMES[context.input_ids],
        )
        marks: dict[str, object] = {}
        sink = Sink(setup.amqp_uri, setup.output_queue, events)
        try:
            profile = context.profile_dir / f"{tag}.txt" if context.profile_dir else None
            with forwarder_process(setup.command, log_path, context, profile) as process:

                def snapshot(name: str) -> None:
                    marks[name] = (
                        procstats.cpu_seconds(process.pid),
                        procstats.cpu_snapshot(BROKER_PROCESS),
                        procstats.cpu_snapshot(POSTGRES_PROCESS),
                        procstats.cpu_seconds(os.getpid()),
                        procstats.machine_busy_seconds(),
                    )

                sink.on_complete = lambda: snapshot("end")
                watcher = ConsumerWatcher(
                    setup.amqp_uri, setup.input_queue, on_ready=lambda: snapshot("start")
                )
                watcher.start()
                finished = sink.drain(
                    timeout=120 + events / 50, until=lambda: process.poll() is not None
                )
                if not finished or sink.received < events or watcher.ready_ns is None:
                    raise _failed(row, log_path, f"{sink.received} of {events} outputs")
                rss = procstats.peak_rss_mb(process.pid)
            # Every output was received, and each forwarder commits its row before it
            # publishes: the count is final (the database is dropped after this block).
            state_rows = count_state_rows(setup.database_url) if setup.database_url else None
        finally:
            sink.close()
    seconds = (sink.last_ns - watcher.ready_ns) / 1e9
    (cpu0, broker0, pg0, own0, busy0), (cpu1, broker1, pg1, own1, busy1) = (
        marks["start"],
        marks["end"],
    )
    per_1k = 1000 / events
    cpu = {
        "forwarder": (cpu1 - cpu0) * per_1k,
        "broker": procstats.cpu_delta(broker0, broker1) * per_1k,
        "postgres": procstats.cpu_delta(pg0, pg1) * per_1k,
        "bench": (own1 - own0) * per_1k,  # the sink, in this process
    }
    # Whatever else ran on the machine meanwhile: a check that the run was undisturbed.
    cpu["other"] = max(0.0, (busy1 - busy0) * per_1k - sum(cpu.values()))
    return ClosedLoop(
        events,
        seconds,
        events / seconds,
        cpu,
        {"forwarder": rss},
        sink.duplicates,
        received=sink.received,
        state_rows=state_rows,
    )


def open_loop(
    row: Row, context: Context, rate: float, seconds: float, warmup_seconds: float, tag: str
) -> OpenLoop:
    """Start the forwarder, wait until it consumes, then publish at ``rate`` for
    ``warmup_seconds + seconds``; latencies of the warm-up are left out."""
    log_path = context.work_dir / "logs" / f"{tag}.log"
    rate = max(rate, 1.0)
    warmup = int(rate * warmup_seconds)
    count = warmup + max(int(rate * seconds), 1)
    with prepared(row, context, tag) as setup:
        sink = Sink(setup.amqp_uri, setup.output_queue, count)
        try:
            with forwarder_process(setup.command, log_path, context) as process:
                watcher = ConsumerWatcher(setup.amqp_uri, setup.input_queue, lambda: None)
                watcher.start()
                if not watcher.ready.wait(60):
                    raise _failed(row, log_path, "the forwarder never started consuming")
                with _killed_at_the_end() as started:  # stopped mid-window: not left publishing
                    with uninterrupted():
                        generator = subprocess.Popen(
                            [
                                sys.executable,
                                "-m",
                                "bench.generator",
                                "--amqp-uri",
                                setup.amqp_uri,
                                "--rate",
                                str(rate),
                                "--count",
                                str(count),
                                "--input-ids",
                                context.input_ids,
                            ],
                            cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.PIPE,
                        )
                        started.append(generator)
                    sink.drain(
                        timeout=60 + warmup_seconds + seconds,
                        until=lambda: process.poll() is not None,
                    )
                    stats = json.loads(generator.communicate(timeout=60)[0] or b"{}")
            missing = sink.missing()
            # Where a lost event stopped, while its database still exists: applied (its
            # state row is there) or not.
            applied = (
                len(applied_seqs(setup.database_url, missing))
                if missing and setup.database_url
                else None
            )
        finally:
            sink.close()
    latencies = sorted(value for value in sink.latency_ns[warmup:] if value is not None)
    if not latencies:
        raise _failed(row, log_path, "no output received in the open-loop run")
    return OpenLoop(
        rate,
        count - warmup,
        count - sink.received,
        *(percentile(latencies, q) / 1e6 for q in (50, 95, 99, 100)),
        generator=stats,
        inputs=count,
        missing=missing[:20],
        missing_applied=applied,
    )


def percentile(ordered: list[int], q: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return float(ordered[rank - 1])


def as_dict(measurement) -> dict:
    return asdict(measurement)
