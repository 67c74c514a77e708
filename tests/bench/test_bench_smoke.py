"""The benchmark is not a test, but it must keep running: a tiny run of every row prints
every row, and each row really forwards every event (and writes its state rows)."""

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from nameko.events import event_handler

from bench import report
from bench.broker import Broker, Sink, prefill
from bench.contract import GENERATOR_SOURCE, INPUT_TYPE
from bench.databases import Postgres, count_state_rows
from bench.forwarders import nameko_db
from bench.ids import uuid4
from bench.rows import ROWS, Context, Row, prepared
from bench.runner import forwarder_process
from tests.bench import TINY_BENCH

ROOT = Path(__file__).resolve().parents[2]
EVENTS = 200
PEER_PAIRS = (
    "project-pg / nameko-db",
    "project-pg / plain-nameko",
    "project-pg / faststream-db",
    "faststream-db / nameko-db",
    "nameko-db / plain-nameko",
    "faststream / plain-nameko",
    "project-pg-quorum / nameko-db",
)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """One run of every row at tiny sizes: its printed tables and its JSON document."""
    output = tmp_path_factory.mktemp("bench")
    completed = subprocess.run(
        [
            *TINY_BENCH,
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
    return completed.stdout, output


def _document(tiny_run) -> dict:
    return json.loads((tiny_run[1] / "latest.json").read_text())


def test_a_tiny_bench_run_prints_every_row_and_writes_its_json(tiny_run):
    stdout, output = tiny_run
    table = stdout.split("Closed loop", 1)[1]
    for label in ROWS:
        assert f"\n{label} " in table, f"row {label} missing from:\n{table}"
    document = _document(tiny_run)
    assert set(document["rows"]) == set(ROWS)
    assert all(row["latency"] for row in document["rows"].values())
    assert document["complete"] and "interrupted" not in document
    assert list(output.glob("bench-*.json"))
    assert not list(output.glob("*.partial.json*")), "the checkpoint outlived a finished run"


@pytest.mark.parametrize("label", list(ROWS))
def test_each_row_forwards_every_event_once_and_writes_one_state_row_per_event(tiny_run, label):
    row = _document(tiny_run)["rows"][label]
    (measured,) = row["closed_loop"][str(EVENTS)]["runs"]
    assert measured["received"] == EVENTS  # distinct outputs, told apart by their seq
    if ROWS[label].backend is None:
        assert measured["state_rows"] is None
    else:
        assert measured["state_rows"] == EVENTS


def test_every_row_has_a_low_load_latency_at_10_events_a_second(tiny_run):
    stdout, _ = tiny_run
    document = _document(tiny_run)
    assert document["options"]["low_rate"] == 10
    for label, row in document["rows"].items():
        low = row["low_load_latency"]
        assert low is not None, label
        assert low["rate"] == 10 and low["lost"] == 0, (label, low)
    assert "Open loop at low load (10 events/s" in stdout


def test_the_ratios_of_the_peers_are_printed(tiny_run):
    stdout, _ = tiny_run
    ratios = _document(tiny_run)["ratios"][str(EVENTS)]
    for pair in PEER_PAIRS:
        assert ratios[pair] is not None and ratios[pair] > 0, pair
        assert f" {pair} " in stdout, pair
    assert "What the peers do not guarantee" in stdout
    assert "nameko-db: no inbox, no outbox" in stdout


def _rows_document(throughputs: dict[str, float], **extra) -> dict:
    return {
        label: {
            "kind": "project" if label.startswith("project-") else "peer",
            "backend": "postgresql",
            "queue_type": "quorum" if "quorum" in label else "classic",
            "closed_loop": {
                "1000": {"throughput": {"median": value}, "peak_rss_mb": {"forwarder": 80.0}}
            },
            "latency": {"p99_ms": {"median": extra.get(label, 10.0)}},
        }
        for label, value in throughputs.items()
    }


def test_the_batched_rows_get_their_ratios_and_targets_once_they_are_rows():
    rows = _rows_document(
        {
            "plain-nameko": 1000.0,
            "nameko-db": 500.0,
            "project-pg": 400.0,
            "project-pg-batched": 1100.0,
        }
    )
    ratios, targets = report.evaluate(rows, [1000])

    assert ratios["1000"]["project-pg-batched / plain-nameko"] == pytest.approx(1.1)
    assert ratios["1000"]["project-pg-batched / nameko-db"] == pytest.approx(2.2)
    assert ratios["1000"]["project-pg / nameko-db"] == pytest.approx(0.8)
    assert "faststream-db / nameko-db" not in ratios["1000"]  # that row did not run
    verdicts = {target["target"]: target["met"] for target in targets}
    assert verdicts["project-pg-batched ≥ 2 × nameko-db (1,000 events)"] is True
    assert verdicts["project-pg-batched ≥ 1 × plain-nameko (1,000 events)"] is True
    assert verdicts["project-pg ≥ 1 × nameko-db (1,000 events)"] is False


def test_the_p99_target_holds_every_postgresql_project_row_to_20_ms_and_no_peer():
    rows = _rows_document(
        {"nameko-db": 500.0, "project-pg": 400.0, "project-pg-quorum": 390.0},
        **{"project-pg-quorum": 26.4, "nameko-db": 80.0},
    )
    _, targets = report.evaluate(rows, [1000])

    verdicts = {target["target"]: target["met"] for target in targets}
    assert verdicts["project-pg p99 < 20 ms at half load"] is True
    assert verdicts["project-pg-quorum p99 < 20 ms at half load"] is False
    assert not any(name.startswith("nameko-db p99") for name in verdicts)


def test_the_memory_target_is_not_applicable_to_a_run_without_project_rows():
    # It said MISSED for a run of the peers alone (no project process was measured).
    _, targets = report.evaluate(_rows_document({"nameko-db": 500.0}), [1000])
    (memory,) = [target for target in targets if "RSS" in target["target"]]
    assert memory["met"] is None and memory["value"] is None
    _, targets = report.evaluate(_rows_document({"project-pg": 400.0}), [1000])
    (memory,) = [target for target in targets if "RSS" in target["target"]]
    assert memory["met"] is True and memory["value"] == 80.0


def test_nothing_a_nameko_forwarder_or_the_bench_imports_pulls_in_faststream():
    completed = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, bench.cli, bench.forwarders.nameko_db, bench.forwarders.plain_nameko, "
            "bench.forwarders.project; print(sorted(m for m in sys.modules "
            "if m.split('.')[0] in ('faststream', 'aio_pika', 'aiormq', 'asyncpg')))",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert completed.stdout.strip() == "[]"


class NamekoDbKilledAfterCommit(nameko_db.NamekoDbForwarder):
    """nameko-db whose process dies right after the commit, before the dispatch."""

    @event_handler(GENERATOR_SOURCE, INPUT_TYPE)
    def on_work_requested(self, envelope):
        payload = envelope["payload"]
        self.db.execute(
            nameko_db.RECORD_ITEM,
            {
                "item_id": payload["item_id"],
                "seq": payload["seq"],
                "amount_fen": payload["amount_fen"],
                "recorded_at": datetime.now(UTC),
            },
        )
        self.db.commit()
        os._exit(9)


def test_nameko_db_killed_between_commit_and_dispatch_inserts_the_row_twice(tmp_path):
    """What the docs say of the peer: the input is not acked yet, so it comes again."""
    context = Context(Broker(), Postgres(), tmp_path, history_rows=0)
    dying = Row(
        "nameko-db",
        "nameko",
        "nameko-db, killed after its commit",
        backend="postgresql",
        service=f"{__name__}:{NamekoDbKilledAfterCommit.__name__}",
    )
    with prepared(dying, context, "dying") as setup:
        assert setup.input_queue == nameko_db.INPUT_QUEUE
        prefill(setup.amqp_uri, setup.input_exchange, setup.input_key, 1, new_id=uuid4)
        sink = Sink(setup.amqp_uri, setup.output_queue, 1)
        try:
            with forwarder_process(setup.command, tmp_path / "dying.log", context) as process:
                assert process.wait(timeout=60) == 9
            assert count_state_rows(setup.database_url) == 1
            sink.drain(timeout=1)
            assert sink.received == 0

            command = [*setup.command[:-1], ROWS["nameko-db"].service]
            with forwarder_process(command, tmp_path / "again.log", context):
                assert sink.drain(timeout=60)
        finally:
            sink.close()
        assert sink.received == 1
        assert count_state_rows(setup.database_url) == 2


def test_faststream_db_killed_between_insert_and_publish_inserts_the_row_twice(tmp_path):
    """The same for FastStream: REJECT_ON_ERROR acks only after the handler returned."""
    context = Context(Broker(), Postgres(), tmp_path, history_rows=0)
    with prepared(ROWS["faststream-db"], context, "dying") as setup:
        prefill(setup.amqp_uri, setup.input_exchange, setup.input_key, 1, new_id=uuid4)
        # The forwarder as it is, but its process ends where it would publish.
        dying = [
            sys.executable,
            "-c",
            "import os, sys; from faststream.rabbit import RabbitBroker; "
            "RabbitBroker.publish = lambda *args, **kwargs: os._exit(9); "
            "from bench.forwarders.faststream_peer import main; main()",
            *setup.command[3:],  # python -m MODULE, then its arguments
        ]
        sink = Sink(setup.amqp_uri, setup.output_queue, 1)
        try:
            with forwarder_process(dying, tmp_path / "dying.log", context) as process:
                assert process.wait(timeout=60) == 9
            assert count_state_rows(setup.database_url) == 1
            sink.drain(timeout=1)
            assert sink.received == 0

            with forwarder_process(setup.command, tmp_path / "again.log", context):
                assert sink.drain(timeout=60)
        finally:
            sink.close()
        assert sink.received == 1
        assert count_state_rows(setup.database_url) == 2


def test_the_bench_names_the_faststream_queue_and_exchange_as_the_forwarder_declares_them():
    # In a process of its own: FastStream stays out of this (eventlet-patched) one.
    completed = subprocess.run(
        [
            sys.executable,
            "-c",
            "from bench import rows; from bench.forwarders import faststream_peer as peer; "
            "assert peer.SERVICE == rows.FASTSTREAM_SERVICE, peer.SERVICE; "
            "assert peer.INPUT_QUEUE.name == "
            "f'{rows.FASTSTREAM_SERVICE}.benchgen.work_requested', peer.INPUT_QUEUE.name; "
            "assert peer.OUTPUT_EXCHANGE.name == f'{rows.FASTSTREAM_SERVICE}.events'",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
