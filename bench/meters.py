"""``python -m bench.meters``: how fast the billing service drains a backlog of meter readings.

    python -m bench.meters                        # 100,000 readings, PostgreSQL (issue 10)
    python -m bench.meters --count 200            # smoke run, a few seconds
    python -m bench.meters --backend sqlite --count 20000
    python -m bench.meters --project-config PREFETCH_COUNT=200

On a fresh vhost (the park's real topology, declared as ``make declare`` does) and a
fresh billing database (its Alembic migrations):

1. set-up: publish, as ``onboarding``, ``enterprise_admitted`` and ``units_allocated``
   for the enterprises holding the metered units; start the billing service (``nameko
   run services.billing.service``, its own OS process, as the ``billing`` broker user) and
   wait until it has applied them all (their inbox rows); stop it;
2. backlog: publish, as ``meters``, ``--count`` ``meters.events/reading_recorded`` (a
   water and an electricity meter per unit, every meter read every ``--interval-seconds``,
   cumulative and increasing, interleaved across meters as a reading round would be);
3. drain: start the billing service again and poll, every ``--poll-seconds``, the work
   queue (ready and unacknowledged messages, via the management API), the retry queues,
   the DLQ and the service's inbox rows for that queue, until every reading was applied
   (or nothing is left anywhere, or ``--timeout``).

The rate is the service's own: applied readings over the time between the first and the
last inbox row (``processed_at``, written in the transaction that applied the reading).
Also reported: the drain from the service's first consumer on the queue to the last
reading applied (start-up excluded), CPU of the service process and the drain curve.
The JSON goes to ``var/bench/meters-<stamp>.json`` (and ``meters-latest.json``).
"""

import argparse
import contextlib
import json
import os
import platform
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench import procstats
from bench.broker import Broker, ConsumerWatcher, queue_counts
from bench.cli import _config_item
from bench.databases import Postgres
from bench.runner import BROKER_PROCESS, POSTGRES_PROCESS
from shared.contract import build
from shared.db import make_engine
from shared.messaging.amqp_client import BrokerAddress, ConfirmingPublisher
from shared.messaging.declare import declare_topology
from shared.messaging.identities import amqp_uri_as, dev_password
from shared.messaging.publisher import message_for
from shared.messaging.tables import INBOX
from shared.messaging.topology import (
    PARK_SUBSCRIPTIONS,
    Subscription,
    dead_letter_queue,
    park_topology,
    retry_exchange,
)
from shared.tooling.migrate import upgrade

ROOT = Path(__file__).resolve().parents[1]
NAMEKO = str(Path(sys.executable).with_name("nameko"))
SERVICE = "billing"
PARK_ID = "aux-shangjie"  # the demo park (DESIGN §8), deploy/parks/aux-shangjie.yaml
READINGS = Subscription(SERVICE, "meters", "reading_recorded")
SET_UP = (
    Subscription(SERVICE, "onboarding", "enterprise_admitted"),
    Subscription(SERVICE, "onboarding", "units_allocated"),
)
TARGET_PER_SECOND = 300.0  # issue 10
ROOM_AREA_M2 = 300
PURCHASE_FEN_PER_M2 = 320_000
PROPERTY_FEE_FEN_PER_M2 = 150
RETRY_DELAYS = (1, 10, 60, 300, 1800)  # the park's ladder (config/development.yaml)


class HarnessError(RuntimeError):
    """The measurement could not be made (the message says why; the log has the rest)."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.meters",
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n", 2)[2],
    )
    parser.add_argument(
        "--count",
        type=lambda text: int(text.replace("_", "")),
        default=100_000,
        help="readings in the backlog (default 100000)",
    )
    parser.add_argument(
        "--units", type=int, default=200, help="metered units, 2 meters each (default 200)"
    )
    parser.add_argument(
        "--enterprises", type=int, default=50, help="enterprises holding them (default 50)"
    )
    parser.add_argument(
        "--interval-seconds",
        type=int,
        default=900,
        help="between two readings of one meter (default 900: every 15 minutes)",
    )
    parser.add_argument("--backend", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--target", type=float, default=TARGET_PER_SECOND)
    parser.add_argument("--timeout", type=float, default=None, help="of the drain, seconds")
    parser.add_argument("--poll-seconds", type=float, default=0.5)
    parser.add_argument("--output-dir", type=Path, default=Path("var/bench"))
    parser.add_argument("--amqp-host", default="127.0.0.1")
    parser.add_argument("--amqp-port", type=int, default=5672)
    parser.add_argument("--amqp-user", default="guest")
    parser.add_argument("--amqp-password", default="guest")
    parser.add_argument("--management-url", default=None)
    parser.add_argument("--pg-server", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument(
        "--project-config",
        type=_config_item,
        action="append",
        default=[],
        metavar="KEY=JSON",
        help="extra nameko config of the billing service, e.g. PREFETCH_COUNT=200",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the vhost and database afterwards"
    )
    parser.add_argument(
        "--profile",
        choices=("cpu", "wall"),
        default=None,
        help="py-spy the billing process during the drain into var/bench/profiles/ "
        "(cpu: where it computes; wall: idle samples too, where it waits)",
    )
    args = parser.parse_args(argv)
    if args.count < 1 or args.units < 1 or not 1 <= args.enterprises <= args.units:
        parser.error("need --count ≥ 1, --units ≥ 1 and 1 ≤ --enterprises ≤ --units")
    if args.units > len(unit_ids()):
        parser.error(f"the demo park has {len(unit_ids())} rooms: --units at most that")
    if args.timeout is None:
        args.timeout = 120 + args.count / 20  # far beyond any plausible rate
    return args


# -- what is published ---------------------------------------------------------------------


def unit_ids() -> list[str]:
    """The demo park's rooms, as onboarding names them: ``B01-1F-01`` … ``B18-4F-06``."""
    return [
        f"B{building:02d}-{floor}F-{room:02d}"
        for building in range(1, 19)
        for floor in range(1, 5)
        for room in range(1, 7)
    ]


@dataclass(frozen=True)
class Enterprise:
    enterprise_id: str
    uscc: str
    units: tuple[str, ...]


def enterprises(count: int, units: list[str], run_id: str) -> list[Enterprise]:
    """``count`` enterprises sharing ``units`` round-robin, each with a valid USCC."""
    from services.onboarding.domain.uscc import build_uscc  # demo data only

    found = []
    for index in range(count):
        held = tuple(units[index::count])
        found.append(
            Enterprise(
                f"bench-ent-{run_id}-{index:04d}", build_uscc("91410106", f"MB{index:06d}"), held
            )
        )
    return found


def set_up_envelopes(holders: list[Enterprise], now: datetime) -> list[dict[str, Any]]:
    """``enterprise_admitted`` then ``units_allocated`` (a purchase) of every holder."""
    envelopes = []
    for holder in holders:
        application_id = str(uuid.uuid4())
        contract_id = f"C-{holder.enterprise_id}"
        admitted = {
            "application_id": application_id,
            "enterprise_id": holder.enterprise_id,
            "enterprise_name": f"郑州基准测试制造有限公司 {holder.enterprise_id[-4:]}",
            "uscc": holder.uscc,
            "industry_code": "C3464",
            "tenure": "purchase",
            "supply_chain_partner": False,
            "environmental_review_required": False,
            "chief_service_officer": "cso-01",
        }
        allocated = {
            "application_id": application_id,
            "enterprise_id": holder.enterprise_id,
            "contract_id": contract_id,
            "tenure": "purchase",
            "units": [
                {
                    "unit_id": unit,
                    "area_m2": ROOM_AREA_M2,
                    "tenure": "purchase",
                    "price_fen": ROOM_AREA_M2 * PURCHASE_FEN_PER_M2,
                    "monthly_rent_fen": None,
                    "monthly_property_fee_fen": ROOM_AREA_M2 * PROPERTY_FEE_FEN_PER_M2,
                    "contract_id": contract_id,
                }
                for unit in holder.units
            ],
        }
        for type_, payload in (("enterprise_admitted", admitted), ("units_allocated", allocated)):
            envelopes.append(build("onboarding", type_, payload, occurred_at=now, park_id=PARK_ID))
    return envelopes


@dataclass(frozen=True)
class Meter:
    meter_id: str
    unit_id: str
    kind: str  # water | electricity

    @property
    def step(self) -> Decimal:
        """Consumption per interval: 0.25 m³ of water, 12.5 kWh of electricity."""
        return Decimal("0.25") if self.kind == "water" else Decimal("12.5")


def meters_of(units: Iterable[str]) -> list[Meter]:
    return [
        Meter(f"{kind[0].upper()}M-{unit}", unit, kind)
        for unit in units
        for kind in ("water", "electricity")
    ]


def reading_envelopes(
    meters: list[Meter], count: int, *, end: datetime, interval: timedelta
) -> Iterator[dict[str, Any]]:
    """``count`` readings in rounds (every meter once per round, rounds in time order),
    the last round at ``end``; each meter's reading grows by its step per round."""
    rounds = -(-count // len(meters))
    start = end - interval * (rounds - 1)
    for index in range(count):
        round_number, meter = divmod(index, len(meters))
        read = meters[meter]
        at = start + interval * round_number
        yield build(
            "meters",
            "reading_recorded",
            {
                "meter_id": read.meter_id,
                "unit_id": read.unit_id,
                "kind": read.kind,
                "reading": str(1000 + read.step * round_number),
                "read_at": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
            occurred_at=at,
            park_id=PARK_ID,
        )


def publish(amqp_uri: str, user: str, envelopes: Iterable[dict[str, Any]], batch=1000) -> int:
    """Publish as broker ``user`` (its ``user_id`` set: the consumer checks the sender),
    confirmed, ``batch`` at a time; return how many."""
    publisher = ConfirmingPublisher(
        BrokerAddress.from_uri(amqp_uri_as(amqp_uri, user, dev_password(user)))
    )
    sent, pending = 0, []
    try:
        for envelope in envelopes:
            pending.append(message_for(envelope, user_id=user))
            if len(pending) == batch:
                publisher.publish(pending)
                sent, pending = sent + len(pending), []
        if pending:
            publisher.publish(pending)
            sent += len(pending)
    finally:
        publisher.close()
    return sent


# -- the service and its database ----------------------------------------------------------


@contextlib.contextmanager
def billing_database(
    backend: str, postgres: Postgres, work_dir: Path, *, keep: bool = False
) -> Iterator[str]:
    """A fresh billing database with its migrations applied (dropped afterwards)."""
    migrations = ROOT / "services" / "billing" / "migrations"
    if backend == "sqlite":
        work_dir.mkdir(parents=True, exist_ok=True)
        path = (work_dir / f"meters-{uuid.uuid4().hex[:8]}.sqlite").resolve()
        url = f"sqlite:///{path}"
        try:
            upgrade(url, migrations)
            yield url
        finally:
            if not keep:
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    name = f"bench_meters_{uuid.uuid4().hex[:8]}"
    postgres.execute(f'CREATE DATABASE "{name}"')
    try:
        url = postgres.url(name)
        upgrade(url, migrations)
        yield url
    finally:
        if not keep:
            postgres.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def write_config(path: Path, amqp_uri: str, database_url: str, args) -> Path:
    """The billing service's nameko config (JSON is YAML)."""
    config = {
        "AMQP_URI": amqp_uri_as(amqp_uri, SERVICE, dev_password(SERVICE)),
        "DATABASES": {SERVICE: database_url},
        "RETRY_DELAYS": list(RETRY_DELAYS),
        "LOG_LEVEL": "WARNING",
        "PARKS_DIR": str(ROOT / "deploy" / "parks"),
        "CALENDAR_DATA_DIR": str(ROOT / "deploy" / "calendar"),
        **({"MANAGEMENT_URL": args.management_url} if args.management_url else {}),
        **dict(args.project_config),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=2))
    return path


@contextlib.contextmanager
def service_process(
    config: Path, log_path: Path, profile: Path | None = None, idle: bool = False
) -> Iterator[subprocess.Popen]:
    """``nameko run services.billing.service``; stopped with SIGTERM (nameko's graceful
    stop: in-flight messages finish and are acked), killed if it does not stop in 30 s.
    With ``profile``, py-spy samples it into that file (raw: ``frame;frame;… count``)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": "ignore"}
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [NAMEKO, "run", "--config", str(config), f"services.{SERVICE}.service"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        if profile is not None:
            profile.parent.mkdir(parents=True, exist_ok=True)
            subprocess.Popen(  # stops by itself when the service exits
                [
                    str(Path(sys.executable).with_name("py-spy")),
                    "record",
                    "--pid",
                    str(process.pid),
                    "--rate",
                    "100",
                    "--format",
                    "raw",
                    "--output",
                    str(profile),
                    *(["--idle"] if idle else []),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            yield process
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def log_tail(log_path: Path, size: int = 3000) -> str:
    return log_path.read_text(errors="replace")[-size:] if log_path.exists() else ""


# -- watching ------------------------------------------------------------------------------


class Probe:
    """What the drain looks like now: the service's inbox rows for a consumer (the
    database) and the depths of its queues (the broker, and its management API)."""

    def __init__(self, database_url: str, broker: Broker, vhost: str):
        self.amqp_uri = broker.uri(vhost)
        self.engine = make_engine(database_url)
        self.management = broker.management()
        self.vhost = vhost
        from sqlalchemy import MetaData, Table

        self.inbox = Table(INBOX, MetaData(), autoload_with=self.engine)

    def applied(self, consumer: str) -> int:
        with self.engine.connect() as connection:
            return connection.execute(
                select(func.count())
                .select_from(self.inbox)
                .where(self.inbox.c.consumer == consumer)
            ).scalar_one()

    def applied_span(self, consumer: str) -> tuple[datetime | None, datetime | None]:
        with self.engine.connect() as connection:
            first, last = connection.execute(
                select(
                    func.min(self.inbox.c.processed_at), func.max(self.inbox.c.processed_at)
                ).where(self.inbox.c.consumer == consumer)
            ).one()
        return _utc(first), _utc(last)

    def depth(self, queue: str) -> tuple[int, int]:
        """``(ready, unacknowledged)`` of ``queue``: ready from the broker itself (a
        passive declare, exact), unacknowledged from the management API (the only place
        that tells it; its statistics lag by up to 5 s)."""
        ready, _ = queue_counts(self.amqp_uri, queue)
        info = self.management.queue(self.vhost, queue)
        return ready, int(info.get("messages_unacknowledged") or 0)

    def retrying(self) -> int:
        return sum(sum(self.depth(retry_exchange(SERVICE, delay))) for delay in RETRY_DELAYS)

    def dead_letters(self) -> int:
        return sum(self.depth(dead_letter_queue(SERVICE)))

    def close(self) -> None:
        self.engine.dispose()


def _utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)  # SQLite hands back naive UTC


def wait_until(predicate, *, timeout: float, interval: float, what: str, process=None, log=None):
    deadline = time.monotonic() + timeout
    while not predicate():
        if process is not None and process.poll() is not None:
            raise HarnessError(
                f"the billing service exited ({process.returncode}) while "
                f"waiting for {what}; its log:\n{log_tail(log)}"
            )
        if time.monotonic() > deadline:
            raise HarnessError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


# -- the run -------------------------------------------------------------------------------


def check_subscribed() -> None:
    """The billing service must consume the readings (and the set-up events) in the
    park's topology: otherwise there is nothing to measure."""
    declared = {Subscription(*s) for s in PARK_SUBSCRIPTIONS}
    missing = [s.queue for s in (READINGS, *SET_UP) if s not in declared]
    if missing:
        raise HarnessError(
            f"the park's topology has no {', '.join(missing)} "
            "(shared/messaging/topology.py PARK_SUBSCRIPTIONS): the billing service does "
            "not consume meter readings yet"
        )


def run(args: argparse.Namespace) -> dict[str, Any]:
    check_subscribed()
    broker = Broker(
        args.amqp_host, args.amqp_port, args.amqp_user, args.amqp_password, args.management_url
    )
    postgres = Postgres(args.pg_server)
    run_id = uuid.uuid4().hex[:6]
    work_dir = args.output_dir / "work"
    log_path = work_dir / "logs" / f"meters-{run_id}.log"
    units = unit_ids()[: args.units]
    holders = enterprises(args.enterprises, units, run_id)
    meters = meters_of(units)
    started = datetime.now(UTC)
    document: dict[str, Any] = {
        "started_at": started.isoformat(),
        "command": " ".join(["python -m bench.meters", *sys.argv[1:]]),
        "options": {
            "count": args.count,
            "units": args.units,
            "meters": len(meters),
            "enterprises": args.enterprises,
            "interval_seconds": args.interval_seconds,
            "backend": args.backend,
            "target_per_second": args.target,
            "project_config": dict(args.project_config),
        },
        "environment": environment(broker),
        "log": str(log_path),
    }
    vhost_context = broker.vhost("meters") if not args.keep else _kept_vhost(broker)
    with (
        vhost_context as vhost,
        billing_database(args.backend, postgres, work_dir / "db", keep=args.keep) as database_url,
    ):
        amqp_uri = broker.uri(vhost)
        declare_topology(park_topology(retry_delays=RETRY_DELAYS), amqp_uri, args.management_url)
        config = write_config(
            work_dir / "config" / f"meters-{run_id}.json", amqp_uri, database_url, args
        )
        probe = Probe(database_url, broker, vhost)
        try:
            document["set_up"] = set_up(args, amqp_uri, holders, config, log_path, probe)
            print(f"  publishing {args.count:,} readings of {len(meters)} meters…", flush=True)
            published_at = time.monotonic()
            end = datetime.now(UTC).replace(microsecond=0)
            sent = publish(
                amqp_uri,
                "meters",
                reading_envelopes(
                    meters, args.count, end=end, interval=timedelta(seconds=args.interval_seconds)
                ),
            )
            document["backlog"] = {
                "published": sent,
                "publish_seconds": round(time.monotonic() - published_at, 2),
            }
            document["drain"] = drain(args, amqp_uri, config, log_path, probe)
        finally:
            probe.close()
    drain_result = document["drain"]
    document["rate_per_second"] = drain_result["rate_first_to_last"]
    document["meets_target"] = (
        drain_result["applied"] == args.count
        and drain_result["rate_first_to_last"] is not None
        and drain_result["rate_first_to_last"] >= args.target
    )
    document["seconds"] = (datetime.now(UTC) - started).total_seconds()
    return document


@contextlib.contextmanager
def _kept_vhost(broker: Broker) -> Iterator[str]:
    name = f"bench-meters-{uuid.uuid4().hex[:8]}"
    management = broker.management()
    management.create_vhost(name)
    management.set_permissions(name, broker.user, ".*", ".*", ".*")
    print(f"  keeping vhost {name}", flush=True)
    yield name


def set_up(args, amqp_uri, holders, config, log_path, probe: Probe) -> dict[str, Any]:
    """Admit the enterprises and allocate their units, then stop the service."""
    began = time.monotonic()
    sent = publish(amqp_uri, "onboarding", set_up_envelopes(holders, datetime.now(UTC)))
    print(f"  set-up: {sent} onboarding events; starting billing to apply them…", flush=True)
    expected = {s.queue: len(holders) for s in SET_UP}
    with service_process(config, log_path) as process:
        wait_until(
            lambda: all(probe.applied(queue) >= n for queue, n in expected.items()),
            timeout=120 + 2 * len(holders),
            interval=args.poll_seconds,
            what=f"billing to apply {sent} set-up events (inbox rows of {', '.join(expected)})",
            process=process,
            log=log_path,
        )
    return {"events": sent, "seconds": round(time.monotonic() - began, 2)}


def drain(args, amqp_uri, config, log_path, probe: Probe) -> dict[str, Any]:
    """Start billing on the backlog; poll until every reading is applied or nothing moves."""
    queue = READINGS.queue
    before = probe.applied(queue)
    load_before = [round(x, 2) for x in os.getloadavg()]
    samples: list[dict[str, Any]] = []
    marks: dict[str, Any] = {}
    profile = (
        args.output_dir / "profiles" / f"meters-{args.profile}-{uuid.uuid4().hex[:6]}.txt"
        if args.profile
        else None
    )
    with service_process(config, log_path, profile, idle=args.profile == "wall") as process:
        watcher = ConsumerWatcher(
            amqp_uri,
            queue,
            on_ready=lambda: marks.setdefault("start", cpu_marks(process.pid)),
        )
        watcher.start()
        print(f"  draining {queue} ({args.backend})…", flush=True)
        t0 = time.monotonic()
        deadline = t0 + args.timeout
        idle_polls, last_applied, reason = 0, -1, "timeout"
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise HarnessError(
                    f"the billing service exited ({process.returncode}) during the drain; "
                    f"its log:\n{log_tail(log_path)}"
                )
            applied = probe.applied(queue) - before
            ready, unacked = probe.depth(queue)
            retrying, dead = probe.retrying(), probe.dead_letters()
            samples.append(
                {
                    "t": round(time.monotonic() - t0, 2),
                    "applied": applied,
                    "ready": ready,
                    "unacked": unacked,
                    "retrying": retrying,
                    "dead_letters": dead,
                }
            )
            if len(samples) % max(1, int(5 / args.poll_seconds)) == 0:
                print(f"    {samples[-1]}", flush=True)
            if applied >= args.count:
                reason = "all applied"
                break
            # Nothing left anywhere and nothing applied for 20 polls: what remains is lost
            # to refusals or dead letters (reported), not to slowness.
            idle_polls = idle_polls + 1 if applied == last_applied else 0
            last_applied = applied
            if ready == unacked == retrying == 0 and idle_polls >= max(20, 10 / args.poll_seconds):
                reason = "queues empty"
                break
            time.sleep(args.poll_seconds)
        end = cpu_marks(process.pid)
        rss = procstats.peak_rss_mb(process.pid)
    first, last = probe.applied_span(queue)
    applied = probe.applied(queue) - before
    ready_ns = watcher.ready_ns
    result: dict[str, Any] = {
        "stopped_because": reason,
        "load_average_at_start": load_before,
        "applied": applied,
        "dead_letters": probe.dead_letters(),
        "first_applied_at": first.isoformat() if first else None,
        "last_applied_at": last.isoformat() if last else None,
        "seconds_first_to_last": None,
        "rate_first_to_last": None,
        "seconds_consumer_to_last": None,
        "rate_consumer_to_last": None,
        "cpu_s_per_1k": cpu_per_1k(marks.get("start"), end, applied),
        "peak_rss_mb": round(rss, 1),
        "profile": str(profile) if profile else None,
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "samples": samples,
    }
    if first and last and last > first and applied > 1:
        span = (last - first).total_seconds()
        result["seconds_first_to_last"] = round(span, 3)
        result["rate_first_to_last"] = round((applied - 1) / span, 1)
    if last and ready_ns:
        span = last.timestamp() - ready_ns / 1e9
        if span > 0:
            result["seconds_consumer_to_last"] = round(span, 3)
            result["rate_consumer_to_last"] = round(applied / span, 1)
    return result


def cpu_marks(pid: int) -> tuple:
    """CPU seconds so far of the billing process, the broker, PostgreSQL, this process,
    and the whole machine (the rest is whatever else ran meanwhile)."""
    return (
        procstats.cpu_seconds(pid),
        procstats.cpu_snapshot(BROKER_PROCESS),
        procstats.cpu_snapshot(POSTGRES_PROCESS),
        procstats.cpu_seconds(os.getpid()),
        procstats.machine_busy_seconds(),
    )


def cpu_per_1k(start: tuple | None, end: tuple, applied: int) -> dict[str, float] | None:
    """CPU seconds per 1,000 applied readings, by process, from the first consumer to the
    end of the drain; ``other`` (the machine's busy time less the others) says whether
    something else disturbed the run."""
    if start is None or not applied:
        return None
    (billing0, broker0, pg0, own0, busy0), (billing1, broker1, pg1, own1, busy1) = start, end
    per_1k = 1000 / applied
    cpu = {
        "billing": (billing1 - billing0) * per_1k,
        "broker": procstats.cpu_delta(broker0, broker1) * per_1k,
        "postgres": procstats.cpu_delta(pg0, pg1) * per_1k,
        "bench": (own1 - own0) * per_1k,
    }
    cpu["other"] = max(0.0, (busy1 - busy0) * per_1k - sum(cpu.values()))
    return {name: round(seconds, 3) for name, seconds in cpu.items()}


def environment(broker: Broker) -> dict[str, Any]:
    from importlib.metadata import version

    found: dict[str, Any] = {
        "python": platform.python_version(),
        "cpus": len(os.sched_getaffinity(0)),
        "platform": platform.platform(),
        "nameko": version("nameko"),
        "SQLAlchemy": version("SQLAlchemy"),
    }
    with contextlib.suppress(Exception):
        found["rabbitmq"] = broker.management().overview().get("rabbitmq_version")
    with contextlib.suppress(Exception):
        found["git"] = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10
        ).stdout.strip()
    return found


def summary(document: dict[str, Any]) -> str:
    drained = document["drain"]
    options = document["options"]
    rate = drained["rate_first_to_last"]
    lines = [
        f"meter readings: {drained['applied']:,} of {options['count']:,} applied "
        f"({options['backend']}, {options['meters']} meters, {drained['stopped_because']})",
        f"rate: {rate:,.1f} readings/s" if rate is not None else "rate: n/a (fewer than 2 applied)",
    ]
    if drained["rate_consumer_to_last"] is not None:
        lines.append(
            f"  from the first consumer: {drained['rate_consumer_to_last']:,.1f} readings/s over "
            f"{drained['seconds_consumer_to_last']:.1f} s"
        )
    cpu = drained["cpu_s_per_1k"]
    if cpu:
        lines.append(
            "  CPU s per 1,000 readings: "
            + ", ".join(f"{name} {seconds:.2f}" for name, seconds in cpu.items())
        )
    if drained["dead_letters"]:
        lines.append(f"  dead letters in {dead_letter_queue(SERVICE)}: {drained['dead_letters']}")
    verdict = "meets" if document["meets_target"] else "does NOT meet"
    lines.append(f"target ≥ {options['target_per_second']:.0f}/s: {verdict}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        document = run(args)
    except HarnessError as error:
        print(f"bench.meters: {error}", file=sys.stderr)
        return 2
    print(summary(document))
    args.output_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    path = args.output_dir / f"meters-{stamp}.json"
    text = json.dumps(document, indent=2, default=str)
    path.write_text(text)
    (args.output_dir / "meters-latest.json").write_text(text)
    print(f"written: {path} (and {args.output_dir / 'meters-latest.json'})")
    return 0 if document["drain"]["applied"] == args.count else 1


if __name__ == "__main__":
    raise SystemExit(main())
