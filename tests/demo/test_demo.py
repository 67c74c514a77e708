"""``make demo`` at its small size, as CI runs it: the month plays through the real services
and its summary says what the scenario did (issue 12: "its summary is checked")."""

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 900  # about a minute here; the SLA timer alone scans every 30 s


@pytest.mark.slow
@pytest.mark.timeout(TIMEOUT + 60)
def test_a_month_in_the_park_ends_in_a_summary_that_holds(tmp_path):
    vhost = f"park-demo-test-{uuid.uuid4().hex[:8]}"
    summary_file = tmp_path / "summary.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "demo",
            "--size",
            "small",
            "--vhost",
            vhost,
            "--work-dir",
            str(tmp_path / "demo"),
            "--json",
            str(summary_file),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "every check of the month held" in done.stdout
    summary = json.loads(summary_file.read_text())

    counts = summary["counts"]
    assert counts["admitted"] == 4
    assert counts["rejected"] == 1
    assert counts["accepted_with_deficiencies"] == 1
    assert counts["payments_unmatched"] == 1
    assert counts["claims_closed"] == 1
    assert counts["late_fees"] >= 1
    assert counts["sla_breached"] >= 1 and counts["escalated"] >= 1
    assert summary["dead_letters"] == {}
    assert summary["trial_balance"]["total_fen"] == 0

    # The claimant's unit is back in inventory and out of the exposure; the other buyer's
    # two units (B04, 2 × 300 m² × 320,000 fen) are what the park still promises to buy.
    assert summary["claim"]["claim"]["state"] == "closed"
    released = summary["claim"]["claim"]["released_units"]
    assert released and all(u.startswith("B06-") for u in released)
    assert "B06" not in summary["occupancy"]["by_building"]
    assert summary["exposure"]["total_fen"] == 2 * 300 * 320_000
    assert [row["building"] for row in summary["exposure"]["by_building"]] == ["B04"]

    revenue = {c for year in summary["revenue"].values() for c in year["by_category"]}
    assert {"purchase", "rent", "property_fee", "water", "electricity", "service"} <= revenue
    assert "late_fee" in revenue

    firms = {row["firm_id"]: row for row in summary["firms"]}
    assert firms["park-service-centre"]["sla_compliance_percent"] == 0.0  # the breached one
    assert any(row["mean_rating"] for row in summary["firms"])
