"""The benchmark is not a test, but it must keep running: a tiny run prints every row."""

import json
import subprocess
import sys
from pathlib import Path

from bench.rows import ROWS

ROOT = Path(__file__).resolve().parents[2]


def test_a_tiny_bench_run_prints_every_row_and_writes_its_json(tmp_path):
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--events",
            "200",
            "--runs",
            "1",
            "--history-rows",
            "0",
            "--latency-seconds",
            "0.5",
            "--warmup-seconds",
            "0",
            "--output-dir",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    table = completed.stdout.split("Closed loop", 1)[1]
    for label in ROWS:
        assert f"\n{label} " in table, f"row {label} missing from:\n{table}"
    document = json.loads((tmp_path / "latest.json").read_text())
    assert set(document["rows"]) == set(ROWS)
    assert all(row["latency"] for row in document["rows"].values())
    assert list(tmp_path.glob("bench-*.json"))
