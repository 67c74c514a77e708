"""The rows of the comparison: what each one runs, and the broker and database it needs
for one measurement (a fresh vhost, fresh queues, a fresh database)."""

import contextlib
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.broker import Broker, declare_plain
from bench.contract import FORWARDER_SERVICE, GENERATOR_SOURCE, INPUT_TYPE, OUTPUT_TYPE
from bench.databases import Postgres, fill_history, sqlite_database
from bench.forwarders import plain_nameko, raw_pika
from bench.forwarders.project import SUBSCRIPTIONS
from shared.messaging.declare import declare_topology
from shared.messaging.topology import Subscription, build_topology, events_exchange

SINK_QUEUE = "bench.sink"
NAMEKO = str(Path(sys.executable).with_name("nameko"))


@dataclass(frozen=True)
class Row:
    """One line of the comparison."""

    label: str
    kind: str  # "raw-pika" | "plain-nameko" | "project"
    description: str
    queue_type: str = "classic"
    backend: str | None = None  # the project's database: "postgresql" | "sqlite"
    history: bool = False


ROWS = {
    row.label: row
    for row in (
        Row("raw-pika", "raw-pika", "pika alone: prefetch, async confirms, ack after confirm"),
        Row("plain-nameko", "plain-nameko", "@event_handler + EventDispatcher, no database"),
        Row(
            "project-pg",
            "project",
            "@handle_event → inbox+state+outbox → relay",
            backend="postgresql",
        ),
        Row("project-sqlite", "project", "the same on SQLite", backend="sqlite"),
        Row(
            "project-pg-quorum",
            "project",
            "project-pg on the default topology (quorum)",
            queue_type="quorum",
            backend="postgresql",
        ),
        Row(
            "project-pg-history",
            "project",
            "project-pg with N inbox + N sent outbox rows of history",
            backend="postgresql",
            history=True,
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
    _history_template: str | None = None

    def history_template(self) -> str:
        """A PostgreSQL database holding the history, made on first use, copied per run."""
        if self._history_template is None:
            name = "bench_history_template"
            self.postgres.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            self.postgres.execute(f'CREATE DATABASE "{name}"')
            from bench.databases import create_schema

            create_schema(self.postgres.url(name))
            seconds = fill_history(
                self.postgres.url(name),
                self.history_rows,
                time_ordered_ids=self.input_ids == "uuid7",
            )
            print(
                f"  history template: {self.history_rows:,} inbox + {self.history_rows:,} "
                f"sent outbox rows in {seconds:.0f}s",
                flush=True,
            )
            self._history_template = name
        return self._history_template

    def close(self) -> None:
        if self._history_template is not None:
            self.postgres.execute(
                f'DROP DATABASE IF EXISTS "{self._history_template}" WITH (FORCE)'
            )
            self._history_template = None


@dataclass(frozen=True)
class Setup:
    """A row ready to measure: where to publish, where to read, what to start."""

    amqp_uri: str
    input_queue: str
    output_queue: str
    command: list[str]
    input_exchange: str = events_exchange(GENERATOR_SOURCE)
    input_key: str = INPUT_TYPE


@contextlib.contextmanager
def prepared(row: Row, context: Context, tag: str) -> Iterator[Setup]:
    with context.broker.vhost(row.label) as vhost:
        amqp_uri = context.broker.uri(vhost)
        if row.kind == "raw-pika":
            yield _raw_pika(amqp_uri, context)
        elif row.kind == "plain-nameko":
            yield _plain_nameko(amqp_uri, context, tag)
        else:
            with _project_database(row, context) as database_url:
                yield _project(row, amqp_uri, database_url, context, tag)


def _raw_pika(amqp_uri: str, context: Context) -> Setup:
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


def _plain_nameko(amqp_uri: str, context: Context, tag: str) -> Setup:
    declare_plain(
        amqp_uri,
        input_queue=plain_nameko.INPUT_QUEUE,
        output_exchange=events_exchange(plain_nameko.SERVICE),
        output_queue=SINK_QUEUE,
        input_exchange=events_exchange(GENERATOR_SOURCE),
        input_key=INPUT_TYPE,
        output_key=OUTPUT_TYPE,
    )
    config = _write_config(context, tag, {"AMQP_URI": amqp_uri})
    command = [
        NAMEKO,
        "run",
        "--config",
        str(config),
        f"{plain_nameko.__name__}:{plain_nameko.PlainForwarder.__name__}",
    ]
    return Setup(amqp_uri, plain_nameko.INPUT_QUEUE, SINK_QUEUE, command)


@contextlib.contextmanager
def _project_database(row: Row, context: Context) -> Iterator[str]:
    if row.backend == "sqlite":
        with sqlite_database(context.work_dir / "db", row.label) as url:
            yield url
    else:
        template = context.history_template() if row.history else None
        with context.postgres.database(row.label, template=template) as url:
            yield url


def _project(row: Row, amqp_uri: str, database_url: str, context: Context, tag: str) -> Setup:
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
            **context.project_config,
        },
    )
    command = [NAMEKO, "run", "--config", str(config), "bench.forwarders.project:Forwarder"]
    input_queue, sink_queue = (Subscription(*s).queue for s in SUBSCRIPTIONS)
    return Setup(amqp_uri, input_queue, sink_queue, command)


def _write_config(context: Context, tag: str, config: dict[str, Any]) -> Path:
    """A nameko config file; JSON is YAML, and quotes every value that needs it."""
    path = context.work_dir / "config" / f"{tag}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=2))
    return path
