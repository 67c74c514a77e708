"""The bench's own databases: one fresh database per measurement, PostgreSQL or SQLite,
and (once per bench run) a PostgreSQL template holding a long history, copied per run."""

import contextlib
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import MetaData, bindparam, create_engine, text

from bench.forwarders.project import SUBSCRIPTIONS, metadata
from bench.ids import uuid7_sql
from bench.stopping import uninterrupted
from shared.db import make_engine, normalise_url

INPUT_CONSUMER = ".".join(SUBSCRIPTIONS[0])  # the inbox's consumer name: the work queue


@dataclass(frozen=True)
class Postgres:
    """A PostgreSQL server on which the bench may create and drop its own databases."""

    server: str = "postgresql://postgres@127.0.0.1:5432"

    def url(self, database: str) -> str:
        return f"{self.server}/{database}"

    def _admin(self):
        return create_engine(normalise_url(self.url("postgres")), isolation_level="AUTOCOMMIT")

    def execute(self, statement: str) -> None:
        engine = self._admin()
        try:
            with engine.connect() as connection:
                connection.execute(text(statement))
        finally:
            engine.dispose()

    @contextlib.contextmanager
    def database(
        self, label: str, template: str | None = None, schema: MetaData = metadata
    ) -> Iterator[str]:
        """A new database (empty + ``schema``, or a copy of ``template``)."""
        name = f"bench_{label.replace('-', '_')}_{uuid.uuid4().hex[:8]}"
        created = False
        try:  # a stop waits until it is created, then comes here: it is dropped
            with uninterrupted():
                self.execute(
                    f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")
                )
                created = True
            url = self.url(name)
            if template is None:
                create_schema(url, schema)
            yield url
        finally:
            if created:
                with uninterrupted():
                    self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def create_schema(url: str, schema: MetaData = metadata) -> None:
    engine = make_engine(url)
    try:
        schema.create_all(engine)
    finally:
        engine.dispose()


@contextlib.contextmanager
def sqlite_database(directory: Path, label: str, schema: MetaData = metadata) -> Iterator[str]:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{label}-{uuid.uuid4().hex[:8]}.sqlite"
    url = f"sqlite:///{path}"
    create_schema(url, schema)
    try:
        yield url
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


def fill_history(url: str, rows: int, *, time_ordered_ids: bool = False) -> float:
    """Give a bench database ``rows`` inbox rows (inside the 30-day replay window) and
    ``rows`` sent outbox rows (inside the 7-day retention, so not prunable); return the
    seconds it took. Rows look like real ones: same consumer, UUID ids (4, or 7 made at
    the row's own time), ~300-byte bodies."""
    started = time.monotonic()
    inbox_id = uuid7_sql("t") if time_ordered_ids else "gen_random_uuid()::text"
    outbox_id = uuid7_sql("t") if time_ordered_ids else "gen_random_uuid()::text"
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO park_inbox (consumer, event_id, processed_at) "
                    f"SELECT :consumer, {inbox_id}, t "
                    "FROM (SELECT now() - random() * interval '20 days' AS t "
                    "      FROM generate_series(1, :rows)) AS history"
                ),
                {"consumer": INPUT_CONSUMER, "rows": rows},
            )
            connection.execute(
                text(
                    "INSERT INTO park_outbox (event_id, exchange, routing_key, event_type, "
                    "  correlation_id, body, headers, created_at, sent_at) "
                    f"SELECT {outbox_id}, 'benchfwd.events', 'work_forwarded', "
                    f"  'work_forwarded', {outbox_id}, "
                    "  convert_to(repeat(md5(g::text), 9), 'UTF8'), NULL, t, t + interval '5 ms' "
                    "FROM (SELECT g, now() - random() * interval '6 days' AS t "
                    "      FROM generate_series(1, :rows) AS g) AS history"
                ),
                {"rows": rows},
            )
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))
    finally:
        engine.dispose()
    return time.monotonic() - started


def applied_seqs(url: str, seqs: list[int]) -> set[int]:
    """Which of ``seqs`` have a ``bench_items`` row: the forwarder applied them."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            found = connection.execute(
                text("SELECT DISTINCT seq FROM bench_items WHERE seq IN :seqs").bindparams(
                    bindparam("seqs", expanding=True)
                ),
                {"seqs": list(seqs)},
            )
            return {seq for (seq,) in found}
    finally:
        engine.dispose()


def count_state_rows(url: str) -> int:
    """How many ``bench_items`` rows a forwarder wrote (one per event, if it wrote each once)."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(text("SELECT count(*) FROM bench_items")).scalar_one()
    finally:
        engine.dispose()
