"""The rows of the comparison: what each one runs, and the broker and database it needs
for one measurement (a fresh vhost, fresh queues, a fresh database)."""

import contextlib
import importlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData

from bench.broker import Broker, declare_plain, declare_sink
from bench.contract import FORWARDER_SERVICE, GENERATOR_SOURCE, INPUT_TYPE, OUTPUT_TYPE
from bench.databases import Postgres, fill_history, sqlite_database
from bench.forwarders import nameko_db, plain_nameko, project_batched, raw_pika
from bench.forwarders.project import SUBSCRIPTIONS
from bench.forwarders.project import metadata as project_metadata
from bench.items import items_table
from bench.stopping import uninterrupted
from shared.messaging.declare import declare_topology
from shared.messaging.topology import Subscription, build_topology, events_exchange

ROOT = Path(__file__).resolve().parents[1]
SINK_QUEUE = "bench.sink"
NAMEKO = str(Path(sys.executable).with_name("nameko"))
PROJECT_SERVICE = "bench.forwarders.project:Forwarder"
PROJECT_BATCHED_SERVICE = "bench.forwarders.project_batched:BatchedForwarder"
FASTSTREAM_MODULE = "bench.forwarders.faststream_peer"  # never imported here: asyncio only
FASTSTREAM_SERVICE = "fastfwd"  # faststream_peer.SERVICE, spelled here for the same reason

STATE_ONLY = MetaData()
items_table(STATE_ONLY)  # the peers' databases: bench_items alone, no inbox, no outbox


@dataclass(frozen=True)
class Row:
    """One line of the comparison. Adding a row is one entry in :data:`ROWS`; a project
    variant (another nameko service, extra config) needs no code elsewhere."""

    label: str
    kind: str  # how it is set up: a key of PREPARERS ("raw-pika", "nameko", "faststream", …)
    description: str
    queue_type: str = "classic"
    backend: str | None = None  # its database: "postgresql" | "sqlite" | None
    history: bool = False
    service: str = PROJECT_SERVICE  # kind "nameko" / "project": the nameko service to run
    config: Mapping[str, Any] = field(default_factory=dict)  # extra nameko config
    notes: str = ""  # what it does not guarantee (printed with the tables)


NAMEKO_DB_NOTES = (
    "no inbox, no outbox: killed between commit and dispatch, the unacked input is "
    "redelivered and inserts the row twice (no unique key); a dispatch that fails after "
    "the commit, or an INSERT that fails, is acked anyway by event_handler: event or "
    "input lost"
)
FASTSTREAM_DB_NOTES = (
    "no inbox, no outbox: killed between the INSERT (autocommit) and the publish, the "
    "unacked input is redelivered and inserts the row twice; a publish or INSERT that "
    "raises rejects the input without requeue (REJECT_ON_ERROR, no dead-letter exchange): "
    "event or input lost"
)


ROWS = {
    row.label: row
    for row in (
        Row("raw-pika", "raw-pika", "pika alone: prefetch, async confirms, ack after confirm"),
        Row(
            "plain-nameko",
            "nameko",
            "@event_handler + EventDispatcher, no database",
            service=f"{plain_nameko.__name__}:{plain_nameko.PlainForwarder.__name__}",
        ),
        Row(
            "nameko-db",
            "nameko",
            "@event_handler → session INSERT + commit → EventDispatcher (PostgreSQL)",
            backend="postgresql",
            service=f"{nameko_db.__name__}:{nameko_db.NamekoDbForwarder.__name__}",
            notes=NAMEKO_DB_NOTES,
        ),
        Row("faststream", "faststream", "FastStream subscriber → publish, no database"),
        Row(
            "faststream-db",
            "faststream",
            "FastStream subscriber → asyncpg INSERT (autocommit) → publish (PostgreSQL)",
            backend="postgresql",
            notes=FASTSTREAM_DB_NOTES,
        ),
        Row(
            "project-pg",
            "project",
            "@handle_event → inbox+state+outbox → relay (classic queues)",
            backend="postgresql",
        ),
        Row("project-sqlite", "project", "the same on SQLite (classic queues)", backend="sqlite"),
        Row(
            "project-pg-quorum",
            "project",
            "project-pg on the default topology (quorum queues)",
            queue_type="quorum",
            backend="postgresql",
        ),
        Row(
            "project-pg-history",
            "project",
            "project-pg with N inbox + N sent outbox rows of history (classic queues)",
            backend="postgresql",
            history=True,
        ),
        Row(
            "project-pg-batched",
            "project",
            "project-pg with @handle_events: up to 100 waiting events per transaction "
            "(classic queues)",
            backend="postgresql",
            service=PROJECT_BATCHED_SERVICE,
            config={"PREFETCH_COUNT": project_batched.PREFETCH},
        ),
        Row(
            "project-pg-batched-quorum",
            "project",
            "project-pg-batched on the default topology (quorum queues)",
            queue_type="quorum",
            backend="postgresql",
            service=PROJECT_BATCHED_SERVICE,
            config={"PREFETCH_COUNT": project_batched.PREFETCH},
        ),
        Row(
            "project-sqlite-batched",
            "project",
            "the same on SQLite (classic queues)",
            backend="sqlite",
            service=PROJECT_BATCHED_SERVICE,
            config={"PREFETCH_COUNT": project_batched.PREFETCH},
        ),
    )
}


@dataclass
class Context:
    """What every measurement of one bench run shares."""

    broker: Broker
    postgres: Postgres
    work_dir: Path
    history_rows: int
    raw_prefetch: int = 256
    project_config: dict[str, Any] = field(default_factory=dict)
    profile_dir: Path | None = None  # py-spy profiles of the closed-loop forwarders
    core_path: Path | None = None  # a modified copy of shared/ to try, ahead on the path
    input_ids: str = "uuid4"  # how the generator and the history make event ids
    faststream_prefetch: int | None = None  # None: FastStream's default, no limit
    _history_template: str | None = None

    def history_template(self) -> str:
        """A PostgreSQL database holding the history, made on first use, copied per run."""
        if self._history_template is None:
            # Its own name per bench run: two runs at once (a smoke test beside a real
            # run) must not drop each other's template.
            name = f"bench_history_template_{uuid.uuid4().hex[:8]}"
            from bench.databases import create_schema

            created = False
            try:
                with uninterrupted():
                    self.postgres.execute(f'CREATE DATABASE "{name}"')
                    created = True
                create_schema(self.postgres.url(name))
                seconds = fill_history(
                    self.postgres.url(name),
                    self.history_rows,
                    time_ordered_ids=self.input_ids == "uuid7",
                )
            except BaseException:
                if created:
                    with uninterrupted():
                        self.postgres.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                raise
            print(
                f"  history template: {self.history_rows:,} inbox + {self.history_rows:,} "
                f"sent outbox rows in {seconds:.0f}s",
                flush=True,
            )
            self._history_template = name
        return self._history_template

    def close(self) -> None:
        if self._history_template is not None:
            with uninterrupted():
                self.postgres.execute(
                    f'DROP DATABASE IF EXISTS "{self._history_template}" WITH (FORCE)'
                )
                self._history_template = None


def forwarder_environment(context: Context) -> dict[str, str]:
    """The environment of a forwarder process: the tree (after ``--core-path``, if any)."""
    path = [str(context.core_path)] if context.core_path else []
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([*path, str(ROOT)]),
        "PYTHONWARNINGS": "ignore",
    }


@dataclass(frozen=True)
class Setup:
    """A row ready to measure: where to publish, where to read, what to start."""

    amqp_uri: str
    input_queue: str
    output_queue: str
    command: list[str]
    input_exchange: str = events_exchange(GENERATOR_SOURCE)
    input_key: str = INPUT_TYPE
    database_url: str | None = None  # where its state rows go, if it has a database


@contextlib.contextmanager
def prepared(row: Row, context: Context, tag: str) -> Iterator[Setup]:
    with context.broker.vhost(row.label) as vhost, _database(row, context) as database_url:
        yield PREPARERS[row.kind](row, context.broker.uri(vhost), database_url, context, tag)


@contextlib.contextmanager
def _database(row: Row, context: Context) -> Iterator[str | None]:
    """A fresh database for the row (None if it has none): the project's schema for the
    project rows, ``bench_items`` alone for the peers."""
    schema = project_metadata if row.kind == "project" else STATE_ONLY
    if row.backend is None:
        yield None
    elif row.backend == "sqlite":
        with sqlite_database(context.work_dir / "db", row.label, schema) as url:
            yield url
    else:
        template = context.history_template() if row.history else None
        with context.postgres.database(row.label, template=template, schema=schema) as url:
            yield url


def _raw_pika(
    row: Row, amqp_uri: str, database_url: str | None, context: Context, tag: str
) -> Setup:
    input_queue, output_exchange = "rawfwd.benchgen.work_requested", events_exchange("rawfwd")
    declare_plain(
        amqp_uri,
        input_queue=input_queue,
        output_exchange=output_exchange,
        output_queue=SINK_QUEUE,
        input_exchange=events_exchange(GENERATOR_SOURCE),
        input_key=INPUT_TYPE,
        output_key=OUTPUT_TYPE,
    )
    command = [
        sys.executable,
        "-m",
        raw_pika.__name__,
        "--amqp-uri",
        amqp_uri,
        "--queue",
        input_queue,
        "--exchange",
        output_exchange,
        "--routing-key",
        OUTPUT_TYPE,
        "--prefetch",
        str(context.raw_prefetch),
    ]
    return Setup(amqp_uri, input_queue, SINK_QUEUE, command)


def _nameko(row: Row, amqp_uri: str, database_url: str | None, context: Context, tag: str) -> Setup:
    """A plain nameko service: its ``event_handler`` queue, declared as nameko declares it
    (the inputs are published before the service starts)."""
    module, _, class_name = row.service.partition(":")
    service = getattr(importlib.import_module(module), class_name).name
    # The queue nameko's event_handler declares for a method named on_work_requested.
    input_queue = f"evt-{GENERATOR_SOURCE}-{INPUT_TYPE}--{service}.on_work_requested"
    declare_plain(
        amqp_uri,
        input_queue=input_queue,
        output_exchange=events_exchange(service),
        output_queue=SINK_QUEUE,
        input_exchange=events_exchange(GENERATOR_SOURCE),
        input_key=INPUT_TYPE,
        output_key=OUTPUT_TYPE,
    )
    config: dict[str, Any] = {"AMQP_URI": amqp_uri, **row.config}
    if database_url is not None:
        # nameko-sqlalchemy's setting; psycopg2, as the project's rows use.
        url = database_url.replace("postgresql://", "postgresql+psycopg2://", 1)
        config[nameko_db.DB_URIS_KEY] = {f"{service}:{nameko_db.Base.__name__}": url}
    command = [NAMEKO, "run", "--config", str(_write_config(context, tag, config)), row.service]
    return Setup(amqp_uri, input_queue, SINK_QUEUE, command, database_url=database_url)


def _faststream(
    row: Row, amqp_uri: str, database_url: str | None, context: Context, tag: str
) -> Setup:
    """FastStream declares its own input queue and exchange (run once, declare only, before
    the pre-fill); the bench binds its sink to the output exchange."""
    base = [sys.executable, "-m", FASTSTREAM_MODULE, "--amqp-uri", amqp_uri]
    declared = subprocess.run(
        [*base, "--declare-only"],
        cwd=ROOT,
        env=forwarder_environment(context),
        capture_output=True,
        text=True,
        timeout=60,
    )
    if declared.returncode != 0:
        raise RuntimeError(
            f"{row.label}: FastStream's declaration failed: {declared.stderr[-1500:]}"
        )
    declare_sink(
        amqp_uri,
        output_exchange=events_exchange(FASTSTREAM_SERVICE),
        output_queue=SINK_QUEUE,
        output_key=OUTPUT_TYPE,
    )
    command = [*base, *(["--database-url", database_url] if database_url else [])]
    if context.faststream_prefetch is not None:
        command += ["--prefetch", str(context.faststream_prefetch)]
    return Setup(
        amqp_uri,
        f"{FASTSTREAM_SERVICE}.{GENERATOR_SOURCE}.{INPUT_TYPE}",  # faststream_peer.INPUT_QUEUE
        SINK_QUEUE,
        command,
        database_url=database_url,
    )


def _project(
    row: Row, amqp_uri: str, database_url: str | None, context: Context, tag: str
) -> Setup:
    services = tuple(sorted({service for service, _, _ in SUBSCRIPTIONS}))
    topology = build_topology(
        SUBSCRIPTIONS, services=services, sources=(GENERATOR_SOURCE,), queue_type=row.queue_type
    )
    declare_topology(topology, amqp_uri, context.broker.management_url)
    config = _write_config(
        context,
        tag,
        {
            "AMQP_URI": amqp_uri,
            "DATABASES": {FORWARDER_SERVICE: database_url},
            "LOG_LEVEL": "WARNING",
            **row.config,
            **context.project_config,
        },
    )
    command = [NAMEKO, "run", "--config", str(config), row.service]
    input_queue, sink_queue = (Subscription(*s).queue for s in SUBSCRIPTIONS)
    return Setup(amqp_uri, input_queue, sink_queue, command, database_url=database_url)


PREPARERS: dict[str, Callable[[Row, str, str | None, Context, str], Setup]] = {
    "raw-pika": _raw_pika,
    "nameko": _nameko,
    "faststream": _faststream,
    "project": _project,
}


def _write_config(context: Context, tag: str, config: dict[str, Any]) -> Path:
    """A nameko config file; JSON is YAML, and quotes every value that needs it."""
    path = context.work_dir / "config" / f"{tag}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=2))
    return path
