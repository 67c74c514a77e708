"""The batched bench rows (``project-pg-batched``, ``project-pg-batched-quorum``,
``project-sqlite-batched``) keep running: a tiny bench run prints them and they forward
every event once with one state row each; and the forwarder really applies a backlog in
batches."""

import json
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from bench.broker import Broker, Sink, prefill
from bench.databases import Postgres
from bench.forwarders.project import TABLES
from bench.forwarders.project_batched import BATCH
from bench.ids import uuid4
from bench.rows import ROWS, Context, prepared
from bench.runner import forwarder_process
from shared.db import normalise_url
from tests.bench import TINY_BENCH

ROOT = Path(__file__).resolve().parents[2]
EVENTS = 200
BATCHED = ("project-pg-batched", "project-pg-batched-quorum", "project-sqlite-batched")


def test_the_batched_rows_are_rows_running_the_batched_forwarder():
    for label in BATCHED:
        assert ROWS[label].kind == "project"
        assert ROWS[label].service == "bench.forwarders.project_batched:BatchedForwarder"
    assert [(ROWS[label].backend, ROWS[label].queue_type) for label in BATCHED] == [
        ("postgresql", "classic"),
        ("postgresql", "quorum"),
        ("sqlite", "classic"),
    ]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    output = tmp_path_factory.mktemp("bench")
    completed = subprocess.run(
        [
            *TINY_BENCH,
            "--rows",
            ",".join(BATCHED),
            "--events",
            str(EVENTS),
            "--runs",
            "1",
            "--output-dir",
            str(output),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    return completed.stdout, json.loads((output / "latest.json").read_text())


@pytest.mark.parametrize("label", BATCHED)
def test_a_tiny_run_forwards_every_event_once_with_one_state_row_each(tiny_run, label):
    stdout, document = tiny_run
    assert f"\n{label} " in stdout.split("Closed loop", 1)[1]
    row = document["rows"][label]
    (measured,) = row["closed_loop"][str(EVENTS)]["runs"]
    assert measured["received"] == EVENTS
    assert measured["state_rows"] == EVENTS
    assert row["latency"]
    assert row["low_load_latency"]["lost"] == 0


def test_the_batched_forwarder_applies_a_backlog_in_batches(tmp_path):
    context = Context(Broker(), Postgres(), tmp_path, history_rows=0)
    with prepared(ROWS["project-pg-batched"], context, "batched") as setup:
        prefill(setup.amqp_uri, setup.input_exchange, setup.input_key, 1000, new_id=uuid4)
        sink = Sink(setup.amqp_uri, setup.output_queue, 1000)
        try:
            with forwarder_process(setup.command, tmp_path / "batched.log", context):
                assert sink.drain(timeout=120), (tmp_path / "batched.log").read_text()[-3000:]
        finally:
            sink.close()
        assert sink.received == 1000
        engine = create_engine(normalise_url(setup.database_url))
        try:
            with engine.connect() as connection:
                sizes = connection.scalars(
                    select(func.count())
                    .select_from(TABLES.inbox)
                    .group_by(TABLES.inbox.c.processed_at)
                ).all()
        finally:
            engine.dispose()
    assert sum(sizes) == 1000
    assert 1 < max(sizes) <= BATCH, sorted(sizes)
