"""``python -m bench.meters`` is a measurement, not a test; these only check that it keeps
running end to end (a tiny backlog, no timing asserted) and that what it publishes is what
the contract and the billing service expect."""

import json
import re
import subprocess
import sys
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from bench import meters
from services.onboarding.domain.uscc import is_valid_uscc
from shared.contract import encode, parse

ROOT = Path(__file__).resolve().parents[2]


def test_readings_come_in_rounds_each_meter_growing_and_later_each_round():
    units = meters.unit_ids()[:3]
    found = meters.meters_of(units)
    end = datetime(2026, 11, 27, 4, 0, tzinfo=UTC)
    readings = list(meters.reading_envelopes(found, 20, end=end, interval=timedelta(minutes=15)))

    assert len(readings) == 20 and len(found) == 6
    assert {m.kind for m in found} == {"water", "electricity"}
    series = defaultdict(list)
    for envelope in readings:
        parse(encode(envelope))  # what the consumer checks first
        payload = envelope["payload"]
        series[payload["meter_id"]].append((payload["read_at"], Decimal(payload["reading"])))
    for points in series.values():
        assert points == sorted(points) and len({r for _, r in points}) == len(points)
    assert max(read_at for points in series.values() for read_at, _ in points) == (
        "2026-11-27T04:00:00Z"
    )
    assert len({e["event_id"] for e in readings}) == 20


def test_set_up_admits_every_holder_and_allocates_each_unit_once():
    units = meters.unit_ids()[:10]
    holders = meters.enterprises(3, units, "t")
    envelopes = meters.set_up_envelopes(holders, datetime.now(UTC))

    for envelope in envelopes:
        parse(encode(envelope))
    assert [e["type"] for e in envelopes] == ["enterprise_admitted", "units_allocated"] * 3
    allocated = [u["unit_id"] for e in envelopes[1::2] for u in e["payload"]["units"]]
    assert sorted(allocated) == sorted(units)
    assert all(is_valid_uscc(h.uscc) for h in holders)
    assert len({h.uscc for h in holders}) == 3
    assert len(meters.unit_ids()) == 432 and meters.unit_ids()[-1] == "B18-4F-06"


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_a_tiny_backlog_drains_end_to_end_and_prints_a_rate(tmp_path, backend):
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.meters",
            "--count",
            "200",
            "--units",
            "10",
            "--enterprises",
            "2",
            "--backend",
            backend,
            "--output-dir",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )

    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-4000:]
    assert re.search(r"^rate: [\d,.]+ readings/s$", completed.stdout, re.M), output[-4000:]
    assert re.search(r"^target ≥ 300/s: (meets|does NOT meet)$", completed.stdout, re.M)
    document = json.loads((tmp_path / "meters-latest.json").read_text())
    assert document["drain"]["applied"] == 200
    assert document["drain"]["dead_letters"] == 0
    assert document["rate_per_second"] > 0
    assert list(tmp_path.glob("meters-2*.json"))


def test_without_billing_subscribed_to_readings_it_says_so_and_measures_nothing(
    monkeypatch, capsys, tmp_path
):
    monkeypatch.setattr(meters, "PARK_SUBSCRIPTIONS", ())

    assert meters.main(["--count", "10", "--output-dir", str(tmp_path)]) == 2
    assert "no billing.meters.reading_recorded" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
