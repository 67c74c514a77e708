"""``python -m bench``: run the rows, print the tables, write ``var/bench/*.json``.

    python -m bench                       # the issue's sizes: 10k and 100k events, 3 runs,
                                          # 1M-row history (107 min to 3½ h on 2 cores)
    python -m bench --quick               # 2,000 events, 1 run, 100k history (~4 min)
    python -m bench --events 200 --runs 1 --history-rows 0 --latency-seconds 1   # smoke
    python -m bench --rows project-pg,plain-nameko --events 10000 --profile

Runs are interleaved (run 1 of every row, then run 2…) so that a drift of the machine
spreads over all rows instead of biasing one. After each measurement the run so far is in
``var/bench/bench-<start>.partial.json``; Ctrl-C or SIGTERM prints and writes what was
measured and exits 130 / 143 (``bench/stopping.py``: never in the middle of a clean-up).
"""

import argparse
import contextlib
import json
import os
import platform
import signal
import sys
import time
import traceback
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import report, runner, stopping
from bench.broker import Broker
from bench.databases import Postgres
from bench.rows import ROWS, Context, Row

ATTEMPTS = 3  # a measurement disturbed by something else on the machine is tried again


def _int_list(text: str) -> list[int]:
    return [int(part.replace("_", "")) for part in text.split(",") if part]


def _config_item(text: str) -> tuple[str, Any]:
    key, _, value = text.partition("=")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n", 2)[2],
    )
    parser.add_argument(
        "--events",
        type=_int_list,
        default=[10_000, 100_000],
        help="closed-loop sizes, comma-separated (default 10000,100000)",
    )
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement (default 3)")
    parser.add_argument(
        "--history-rows",
        type=int,
        default=1_000_000,
        help="inbox rows and sent outbox rows of the history row (default 1M)",
    )
    parser.add_argument(
        "--rows", default=",".join(ROWS), help=f"comma-separated, from: {', '.join(ROWS)}"
    )
    parser.add_argument(
        "--latency-seconds",
        type=float,
        default=20.0,
        help="measured length of each open-loop run (default 20)",
    )
    parser.add_argument(
        "--warmup-seconds",
        type=float,
        default=2.0,
        help="open-loop warm-up left out of the latencies (default 2)",
    )
    parser.add_argument(
        "--low-rate",
        type=float,
        default=10.0,
        help="events/s of the low-load open-loop run of every row (default 10; 0: none)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="development mode: 2000 events, 1 run, 100k history, 5 s latency",
    )
    parser.add_argument("--output-dir", type=Path, default=Path("var/bench"))
    parser.add_argument("--amqp-host", default="127.0.0.1")
    parser.add_argument("--amqp-port", type=int, default=5672)
    parser.add_argument("--amqp-user", default="guest")
    parser.add_argument("--amqp-password", default="guest")
    parser.add_argument(
        "--management-url",
        default=None,
        help="RabbitMQ management API (default http://<amqp-host>:15672)",
    )
    parser.add_argument(
        "--pg-server",
        default="postgresql://postgres@127.0.0.1:5432",
        help="PostgreSQL server where the bench creates its databases",
    )
    parser.add_argument("--raw-prefetch", type=int, default=256)
    parser.add_argument(
        "--project-config",
        type=_config_item,
        action="append",
        default=[],
        metavar="KEY=JSON",
        help="extra nameko config of the project rows, e.g. PREFETCH_COUNT=100 "
        "or OUTBOX='{\"batch_size\": 200}'",
    )
    parser.add_argument(
        "--core-path",
        type=Path,
        default=None,
        help="a directory holding a modified copy of shared/ to measure",
    )
    parser.add_argument(
        "--input-ids",
        choices=("uuid4", "uuid7"),
        default="uuid4",
        help="event ids of the inputs and of the history rows: random "
        "(uuid4, as shared/ makes them today) or time-ordered (uuid7)",
    )
    parser.add_argument(
        "--faststream-prefetch",
        type=int,
        default=None,
        help="a prefetch limit for the faststream rows (default: none, FastStream's default)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="py-spy each closed-loop forwarder into var/bench/profiles/",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.events, args.runs, args.latency_seconds = [2000], 1, 5.0
        args.history_rows = min(args.history_rows, 100_000)
    args.rows = [label for label in args.rows.split(",") if label]
    unknown = set(args.rows) - set(ROWS)
    if unknown:
        parser.error(f"unknown rows {sorted(unknown)}; choose from {', '.join(ROWS)}")
    return args


def _attempt(row: Row, what: str, measure) -> dict[str, Any]:
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return asdict(measure())
        except Exception as error:
            print(f"  {row.label} {what}: attempt {attempt} failed: {error}"[:600], flush=True)
            if attempt == ATTEMPTS:
                raise
            time.sleep(5)
    raise AssertionError("unreachable")


def _environment(broker: Broker, postgres: Postgres) -> dict[str, Any]:
    from importlib.metadata import version

    found: dict[str, Any] = {
        "python": platform.python_version(),
        "cpus": _cpu_count(),
        "platform": platform.platform(),
    }
    for package in (
        "nameko",
        "kombu",
        "amqp",
        "pika",
        "SQLAlchemy",
        "psycopg2-binary",
        "eventlet",
        "faststream",
        "aio-pika",
        "asyncpg",
    ):
        try:
            found[package] = version(package)
        except Exception:
            found[package] = None
    try:
        found["rabbitmq"] = broker.management().overview().get("rabbitmq_version")
    except Exception:
        found["rabbitmq"] = None
    try:
        from sqlalchemy import create_engine, text

        from shared.db import normalise_url

        engine = create_engine(normalise_url(postgres.url("postgres")))
        with engine.connect() as connection:
            found["postgresql"] = connection.execute(text("SHOW server_version")).scalar()
        engine.dispose()
    except Exception:
        found["postgresql"] = None
    found["git"] = _git_state()
    return found


def _git_state() -> dict[str, Any]:
    """Which core was measured: the commit, and whether shared/ had local changes."""
    import subprocess

    def git(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", *args], cwd=runner.ROOT, capture_output=True, text=True, timeout=10
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    return {
        "commit": git("rev-parse", "HEAD"),
        "shared_changes": git("status", "--porcelain", "--", "shared").splitlines(),
    }


def _cpu_count() -> int:
    return len(os.sched_getaffinity(0))


def run(args: argparse.Namespace, checkpoint: Path | None = None) -> dict[str, Any]:
    """Every measurement of ``args``; after each, the document so far is written to
    ``checkpoint`` (if given): a run that is killed leaves what it measured."""
    broker = Broker(
        args.amqp_host, args.amqp_port, args.amqp_user, args.amqp_password, args.management_url
    )
    postgres = Postgres(args.pg_server)
    # Its own folder per bench run: the forwarders' config files are named by row and
    # phase, so two runs at once (a smoke test beside a real run) would otherwise write
    # the same file, and a forwarder could start on the other run's vhost and database.
    work_dir = args.output_dir / "work" / f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{os.getpid()}"
    context = Context(
        broker,
        postgres,
        work_dir,
        args.history_rows,
        raw_prefetch=args.raw_prefetch,
        project_config=dict(args.project_config),
        core_path=args.core_path,
        input_ids=args.input_ids,
        faststream_prefetch=args.faststream_prefetch,
        profile_dir=args.output_dir / "profiles" if args.profile else None,
    )
    started = datetime.now(UTC)
    document: dict[str, Any] = {
        "started_at": started.isoformat(),
        "command": " ".join(["python -m bench", *sys.argv[1:]]),
        "options": {
            "events": args.events,
            "runs": args.runs,
            "history_rows": args.history_rows,
            "rows": args.rows,
            "latency_seconds": args.latency_seconds,
            "warmup_seconds": args.warmup_seconds,
            "low_rate": args.low_rate,
            "raw_prefetch": args.raw_prefetch,
            "project_config": dict(args.project_config),
            "core_path": str(args.core_path) if args.core_path else None,
            "input_ids": args.input_ids,
            "faststream_prefetch": args.faststream_prefetch,
        },
        "environment": _environment(broker, postgres),
        "rows": {},
        "complete": False,  # every measurement asked for was made (or its row failed)
    }
    rows = {label: ROWS[label] for label in args.rows}
    entries = document["rows"]
    for label, row in rows.items():
        entries[label] = {
            "kind": row.kind,
            "description": row.description,
            "queue_type": row.queue_type,
            "backend": row.backend,
            "notes": row.notes,
            "closed_loop": {},
            "latency": None,
            "low_load_latency": None,
            "error": None,
        }
        if row.history:
            entries[label]["history_rows"] = args.history_rows
    progress = _Progress(document, args.events, started, checkpoint)
    try:
        for run_number in range(1, args.runs + 1):
            for size in args.events:
                for label, row in rows.items():
                    if entries[label]["error"]:
                        continue
                    tag = f"{label}-{size}-run{run_number}"
                    print(f"[{_clock(started)}] closed loop {tag}", flush=True)
                    progress.now = tag
                    try:
                        result = _attempt(
                            row,
                            tag,
                            lambda row=row, size=size, tag=tag: runner.closed_loop(
                                row, context, size, tag
                            ),
                        )
                    except Exception as error:
                        entries[label]["error"] = f"{type(error).__name__}: {error}"
                        traceback.print_exc()
                        continue
                    print(
                        f"    {result['throughput']:,.0f} events/s, forwarder "
                        f"{result['cpu_s_per_1k']['forwarder']:.2f} CPU s/1k, "
                        f"{result['peak_rss_mb']['forwarder']:.0f} MB",
                        flush=True,
                    )
                    progress.record(label, str(size), result)
        for run_number in range(1, args.runs + 1):
            for label, row in rows.items():
                summary = entries[label]["closed_loop"].get(str(args.events[-1]))
                if entries[label]["error"] or summary is None:
                    continue
                rate = summary["throughput"]["median"] / 2
                tag = f"{label}-latency-run{run_number}"
                print(f"[{_clock(started)}] open loop {tag} at {rate:,.0f}/s", flush=True)
                progress.now = tag
                try:
                    result = _attempt(
                        row,
                        tag,
                        lambda row=row, rate=rate, tag=tag: runner.open_loop(
                            row, context, rate, args.latency_seconds, args.warmup_seconds, tag
                        ),
                    )
                except Exception as error:
                    entries[label]["error"] = f"{type(error).__name__}: {error}"
                    traceback.print_exc()
                    continue
                _print_open(result)
                progress.record(label, "latency", result)
        if args.low_rate > 0:
            _low_load(args, context, rows, entries, started, progress)
        document["complete"] = True
    except KeyboardInterrupt as stop:
        # Ctrl-C, or SIGTERM (main() turns it into this): keep what was measured.
        by = stop.args[0] if stop.args else "SIGINT"
        document["interrupted"] = {"by": by, "during": progress.now}
        print(f"\n[{_clock(started)}] stopped by {by} during {progress.now}", flush=True)
    finally:
        # A stop during the last clean-up waited for it: nothing is left to stop.
        with contextlib.suppress(KeyboardInterrupt):
            context.close()
    progress.summarise()
    return document


class _Progress:
    """The measurements so far, summarised into the document after each one, and the
    document written to the checkpoint file then (a 3½-hour default run outliving its
    terminal, say, leaves what it measured)."""

    def __init__(
        self, document: dict, sizes: list[int], started: datetime, path: Path | None
    ) -> None:
        self.document, self.sizes, self.started, self.path = document, sizes, started, path
        self.measured: dict[str, dict[str, list]] = {label: {} for label in document["rows"]}
        self.now = "set-up"

    def record(self, label: str, phase: str, result: dict[str, Any]) -> None:
        """``phase``: a closed-loop size (\"10000\"), ``latency`` or ``low_load_latency``."""
        self.measured[label].setdefault(phase, []).append(result)
        self.summarise()
        if self.path is not None:
            with stopping.uninterrupted():  # no half-written .tmp left by a stop
                _write_json(self.path, self.document)

    def summarise(self) -> None:
        entries = self.document["rows"]
        for label, phases in self.measured.items():
            entries[label]["closed_loop"] = {
                size: report.summarise_closed(phases[size])
                for size in map(str, self.sizes)
                if size in phases
            }
            for key in ("latency", "low_load_latency"):
                entries[label][key] = report.summarise_open(phases[key]) if key in phases else None
        self.document["ratios"], self.document["targets"] = report.evaluate(entries, self.sizes)
        self.document["seconds"] = (datetime.now(UTC) - self.started).total_seconds()


def _write_json(path: Path, document: dict[str, Any]) -> None:
    """Whole or not at all: a reader (or a kill) never sees half a file."""
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(json.dumps(document, indent=2, default=str))
    os.replace(partial, path)


def _low_load(
    args, context, rows: dict[str, Row], entries: dict, started: datetime, progress: _Progress
) -> None:
    """Every row once per run at ``--low-rate`` (10 events/s): the latency of an event
    that finds the forwarder idle — batching must add nothing here."""
    for run_number in range(1, args.runs + 1):
        for label, row in rows.items():
            if entries[label]["error"]:
                continue
            tag = f"{label}-low-run{run_number}"
            print(f"[{_clock(started)}] open loop {tag} at {args.low_rate:,.0f}/s", flush=True)
            progress.now = tag
            try:
                result = _attempt(
                    row,
                    tag,
                    lambda row=row, tag=tag: runner.open_loop(
                        row, context, args.low_rate, args.latency_seconds, args.warmup_seconds, tag
                    ),
                )
            except Exception as error:
                entries[label]["error"] = f"{type(error).__name__}: {error}"
                traceback.print_exc()
                continue
            _print_open(result)
            progress.record(label, "low_load_latency", result)


def _print_open(result: dict[str, Any]) -> None:
    """One open-loop measurement; a loss says where the lost events stopped."""
    line = (
        f"    p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms, lost {result['lost']}"
    )
    if result["lost"]:
        generator = result["generator"]
        applied = result["missing_applied"]
        line += (
            f" of {result['inputs']} inputs (warm-up included): seqs {result['missing']}; "
            f"the broker confirmed {generator.get('confirmed', '?')} inputs, refused "
            f"{generator.get('nacked', '?')}, left {generator.get('unconfirmed', '?')} "
            "unconfirmed"
            + ("" if applied is None else f"; the forwarder applied {applied} of the lost")
        )
    print(line, flush=True)


def _clock(started: datetime) -> str:
    elapsed = int((datetime.now(UTC) - started).total_seconds())
    return f"{elapsed // 60:3d}:{elapsed % 60:02d}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stopping.install()
    args.output_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = args.output_dir / f"bench-{datetime.now(UTC):%Y%m%d-%H%M%S}.partial.json"
    document = run(args, checkpoint)
    stop = document.get("interrupted")
    if stop:
        print(
            f"\nINTERRUPTED by {stop['by']} during {stop['during']}: the tables hold what was "
            "measured before it (a measurement with fewer runs than asked says so)"
        )
    print(report.tables(document))
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    path = args.output_dir / f"bench-{stamp}.json"
    _write_json(path, document)
    _write_json(args.output_dir / "latest.json", document)
    checkpoint.unlink(missing_ok=True)
    print(
        f"\nwritten: {path} (and {args.output_dir / 'latest.json'}); "
        f"took {document['seconds'] / 60:.1f} min"
    )
    if stop:
        return 128 + signal.Signals.__members__.get(stop["by"], signal.SIGINT)
    return 1 if any(row["error"] for row in document["rows"].values()) else 0
