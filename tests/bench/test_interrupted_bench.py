"""A bench run that is stopped keeps what it measured and leaves nothing behind: the
default run takes two to three and a half hours, and one stopped near its end used to
leave no results, its forwarder still consuming and its vhost and database in place."""

import json
import signal
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import create_engine, text

from bench.broker import Broker
from bench.databases import Postgres
from shared.db import normalise_url
from tests.bench import TINY_BENCH

ROOT = Path(__file__).resolve().parents[2]
COMMAND = [*TINY_BENCH, "--rows", "raw-pika,nameko-db", "--events", "200", "--runs", "3"]


def _children(pid: int) -> dict[int, str]:
    """The child processes of ``pid``: their command lines."""
    found = {}
    path = Path(f"/proc/{pid}/task/{pid}/children")
    for child in path.read_text().split() if path.exists() else ():
        try:
            found[int(child)] = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:  # ended meanwhile
            continue
    return {pid: line.decode(errors="replace") for pid, line in found.items()}


def _mid_nameko_db(checkpoints: Path, bench: subprocess.Popen, timeout: float):
    """Wait until the checkpoint holds a measurement and a nameko-db forwarder runs (its
    vhost and database exist); the checkpoint and the bench's child processes then."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert bench.poll() is None, "the bench ended before it could be stopped"
        for path in checkpoints.glob("bench-*.partial.json"):
            document = json.loads(path.read_text())  # written whole, by rename
            children = _children(bench.pid)
            measured = document["rows"]["raw-pika"]["closed_loop"]
            if measured and any("nameko_db" in line for line in children.values()):
                return document, children
        time.sleep(0.02)
    raise AssertionError(f"no nameko-db measurement under way after {timeout} s")


def _named_in_configs(work: Path) -> tuple[set[str], set[str]]:
    """The vhosts and databases the run's nameko-db forwarders were given."""
    vhosts, databases = set(), set()
    for config in work.glob("work/*/config/*.yaml"):
        text = json.loads(config.read_text())
        vhosts.add(urlsplit(text["AMQP_URI"]).path.lstrip("/"))
        for value in text.get("DB_URIS", {}).values():
            databases.add(urlsplit(value).path.lstrip("/"))
    return vhosts, databases


def test_a_bench_stopped_by_sigterm_keeps_what_it_measured_and_leaves_nothing(tmp_path):
    bench = subprocess.Popen(
        [*COMMAND, "--output-dir", str(tmp_path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        checkpoint, children = _mid_nameko_db(tmp_path, bench, timeout=180)
        assert checkpoint["complete"] is False
        bench.send_signal(signal.SIGTERM)
        stdout, _ = bench.communicate(timeout=300)
    finally:
        if bench.poll() is None:
            bench.kill()
            bench.wait()

    assert bench.returncode == 128 + signal.SIGTERM, stdout[-3000:]
    assert "INTERRUPTED by SIGTERM during nameko-db-" in stdout
    assert "of 3 runs)" in stdout  # a measurement the stop cut short says so
    document = json.loads((tmp_path / "latest.json").read_text())
    assert document["complete"] is False
    assert document["interrupted"]["by"] == "SIGTERM"
    kept = document["rows"]["raw-pika"]["closed_loop"]["200"]
    assert 1 <= len(kept["runs"]) < 3 and kept["runs"][0]["received"] == 200
    assert kept["throughput"]["median"] > 0
    (final,) = [p for p in tmp_path.glob("bench-*.json") if not p.name.endswith(".partial.json")]
    assert json.loads(final.read_text()) == document
    assert not list(tmp_path.glob("*.partial.json*")), "the checkpoint outlived the final JSON"

    # Nothing of the run goes on: the processes it had started when stopped are gone,
    # and so are the vhost and the database of the measurement it was in.
    assert not [child for child in children if Path(f"/proc/{child}").exists()], children
    vhosts, databases = _named_in_configs(tmp_path)
    assert vhosts and databases
    management = Broker().management()  # the bench's defaults: this machine's broker
    assert [name for name in vhosts if management.vhost_or_none(name) is not None] == []
    assert databases.isdisjoint(_databases())


def _databases() -> set[str]:
    engine = create_engine(normalise_url(Postgres().url("postgres")))
    try:
        with engine.connect() as connection:
            return set(connection.execute(text("SELECT datname FROM pg_database")).scalars())
    finally:
        engine.dispose()
