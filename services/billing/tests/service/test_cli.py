"""``park billing …``: the operator commands run billing's use cases on its database."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import yaml
from typer.testing import CliRunner

from services.billing import handlers
from services.billing.cli import billing
from services.billing.orm import messaging
from services.billing.unit_of_work import BillingRules, BillingUnitOfWork
from shared.db import Database
from shared.tooling.migrate import upgrade

ROOT = Path(__file__).resolve().parents[4]
PARK = "aux-shangjie"
USCC = "91410100000000019L"


def test_match_a_payment_credit_note_refusals_and_the_trial_balance(tmp_path):
    url = f"sqlite:///{tmp_path / 'billing.sqlite'}"
    upgrade(url, ROOT / "services" / "billing" / "migrations")
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "AMQP_URI": "pyamqp://guest:guest@localhost:5672/",
                "DATABASES": {"billing": url},
                "PARKS_DIR": str(ROOT / "deploy" / "parks"),
            }
        )
    )
    database = Database(url)
    now = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)

    def uow():
        return BillingUnitOfWork(
            database,
            messaging,
            source="billing",
            clock=lambda: now,
            rules=BillingRules.load(ROOT / "deploy" / "parks"),
        )

    handlers.admit_enterprise(
        {"enterprise_id": "ent-1", "uscc": USCC, "enterprise_name": "恒达"}, PARK, uow()
    )
    handlers.receive_payment(
        {
            "bank_txn_id": "BANK-9",
            "payer_uscc": "91110000000000000X",
            "amount_fen": 5_000,
            "received_at": now,
            "reference": "",
        },
        uow(),
    )
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(billing, [*args, "--config", str(config)])

    matched = invoke(
        "match-payment", "BANK-9", "ent-1", "--operator", "op-li", "--reason", "the parent pays"
    )
    assert matched.exit_code == 0, matched.output
    assert json.loads(matched.output)["enterprise_id"] == "ent-1"
    again = invoke("match-payment", "BANK-9", "ent-1", "--operator", "op-li", "--reason", "again")
    assert again.exit_code == 1 and "[not_in_suspense]" in again.output
    missing = invoke("credit-note", "no-such-invoice", "100", "--operator", "op", "--reason", "x")
    assert missing.exit_code == 1 and "[not_found]" in missing.output
    balance = invoke("trial-balance")
    assert balance.exit_code == 0, balance.output
    assert json.loads(balance.output)["accounts"]["customer_credit"] == -5_000
    handlers.record_meter_reading(
        {
            "meter_id": "E-1",
            "unit_id": "B01-1F-01",
            "kind": "electricity",
            "reading": "800",
            "read_at": now,
        },
        uow(),
    )
    rebased = invoke("rebaseline-meter", "E-1", "0", "--operator", "op-li", "--reason", "new")
    assert rebased.exit_code == 0, rebased.output
    assert json.loads(rebased.output) == {"meter_id": "E-1", "reading": "0", "billed_fen": 0}
    unknown = invoke("rebaseline-meter", "E-9", "0", "--operator", "op", "--reason", "x")
    assert unknown.exit_code == 1 and "[not_found]" in unknown.output
    cycle = invoke("run-cycle", "--on", "2026-11-02")
    assert cycle.exit_code == 0 and json.loads(cycle.output)["failed"] == []
    assert invoke("run-cycle", "--on", "2026-13-01").exit_code == 1
    database.dispose()
