"""``park buyback …``: the operator commands run buyback's use cases on its database."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import yaml
from typer.testing import CliRunner

from services.buyback import handlers
from services.buyback.cli import buyback
from services.buyback.orm import messaging
from services.buyback.unit_of_work import BuybackRules, BuybackUnitOfWork
from shared.db import Database
from shared.tooling.migrate import upgrade

ROOT = Path(__file__).resolve().parents[4]
PARK = "aux-shangjie"
runner = CliRunner()


def test_list_show_withdraw_and_exposure_with_their_exit_codes(tmp_path):
    url = f"sqlite:///{tmp_path / 'buyback.sqlite'}"
    upgrade(url, ROOT / "services" / "buyback" / "migrations")
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "AMQP_URI": "pyamqp://guest:guest@localhost:5672/",
                "DATABASES": {"buyback": url},
                "PARKS_DIR": str(ROOT / "deploy" / "parks"),
            }
        )
    )
    database = Database(url)
    now = datetime.now(UTC)

    def uow():
        return BuybackUnitOfWork(
            database, messaging, source="buyback", clock=lambda: now, rules=BuybackRules.load()
        )

    handlers.admit_enterprise({"enterprise_id": "ent-1"}, PARK, uow())
    handlers.allocate_units(
        {
            "enterprise_id": "ent-1",
            "units": [
                {
                    "unit_id": "B07-2F-03",
                    "tenure": "purchase",
                    "price_fen": 96_000_000,
                    "contract_id": "c",
                }
            ],
        },
        PARK,
        uow(),
    )
    handlers.start_production(
        {"enterprise_id": "ent-1", "started_on": date(2020, 3, 1)}, PARK, uow()
    )
    claim_id = str(uuid.uuid4())
    handlers.request_claim(
        {"claim_id": claim_id, "enterprise_id": "ent-1", "reason": "亏损", "evidence": []},
        PARK,
        uow(),
        occurred_at=now,
    )
    database.dispose()

    def park(*args):
        return runner.invoke(buyback, [*args, "--config", str(config)])

    listed = park("list", "--state", "under_review", "--json")
    assert listed.exit_code == 0, listed.output
    assert [c["claim_id"] for c in json.loads(listed.output)] == [claim_id]
    assert park("list", "--state", "nonsense").exit_code == 1
    paged = park("list", "--limit", "1", "--before", claim_id, "--json")
    assert paged.exit_code == 0 and json.loads(paged.output) == []  # nothing older

    shown = park("show", claim_id)
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["steps"][0]["step"] == "claim_filed"
    missing = park("show", str(uuid.uuid4()))
    assert missing.exit_code == 1 and "[not_found]" in missing.output
    assert park("show", "not-a-uuid").exit_code == 1

    exposure = park("exposure", "--as-of", "2026-11-27")
    assert exposure.exit_code == 0, exposure.output
    assert json.loads(exposure.output)["total_fen"] == 96_000_000
    exposure = park("exposure", "--park", PARK, "--as-of", "2026-11-27")
    assert exposure.exit_code == 0, exposure.output
    assert json.loads(exposure.output)["park_id"] == PARK
    other = park("exposure", "--park", "shangjie-equipment", "--as-of", "2026-11-27")
    assert json.loads(other.output)["total_fen"] == 0  # the other park's B07 is not this one
    unknown = park("exposure", "--park", "no-such-park")
    assert unknown.exit_code == 1 and "[unknown_park]" in unknown.output

    assert park("withdraw", claim_id).exit_code == 2  # --reason is required
    withdrawn = park("withdraw", claim_id, "--reason", "企业撤回", "--operator", "op-li")
    assert withdrawn.exit_code == 0, withdrawn.output
    assert json.loads(withdrawn.output)["state"] == "withdrawn"
    again = park("withdraw", claim_id, "--reason", "again", "--operator", "op-li")
    assert again.exit_code == 0  # already withdrawn: nothing changes
    check = Database(url)
    try:
        with check.transaction() as session:
            rows = session.execute(
                messaging.outbox.select().where(messaging.outbox.c.event_type == "claim_withdrawn")
            ).all()
    finally:
        check.dispose()
    assert len(rows) == 1  # waiting in the outbox for the service's relay


def test_a_withdrawal_after_settlement_exits_1_with_its_code(tmp_path):
    url = f"sqlite:///{tmp_path / 'buyback.sqlite'}"
    upgrade(url, ROOT / "services" / "buyback" / "migrations")
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"DATABASES": {"buyback": url}}))
    database = Database(url)
    now = datetime.now(UTC)

    def uow():
        return BuybackUnitOfWork(
            database, messaging, source="buyback", clock=lambda: now, rules=BuybackRules.load()
        )

    unit = {"unit_id": "B07-2F-03", "tenure": "purchase", "price_fen": 100, "contract_id": "c"}
    handlers.admit_enterprise({"enterprise_id": "ent-1"}, PARK, uow())
    handlers.allocate_units({"enterprise_id": "ent-1", "units": [unit]}, PARK, uow())
    handlers.start_production(
        {"enterprise_id": "ent-1", "started_on": date(2020, 3, 1)}, PARK, uow()
    )
    claim_id = str(uuid.uuid4())
    handlers.request_claim(
        {"claim_id": claim_id, "enterprise_id": "ent-1", "reason": "r", "evidence": []},
        PARK,
        uow(),
        occurred_at=now,
    )
    for review in ("legal", "finance"):
        handlers.resolve_review(
            {
                "ticket_id": review,
                "enterprise_id": "ent-1",
                "claim_id": claim_id,
                "review": review,
                "firm_id": "f",
                "outcome": "approve",
                "reasons": [],
            },
            uow(),
            sender="ticketing",
        )
    handlers.record_settlement(
        {
            "claim_id": claim_id,
            "enterprise_id": "ent-1",
            "gross_fen": 100,
            "offsets": [],
            "net_fen": 100,
        },
        uow(),
        sender="billing",
    )
    database.dispose()
    result = runner.invoke(
        buyback,
        ["withdraw", claim_id, "--reason", "x", "--operator", "op", "--config", str(config)],
    )
    assert result.exit_code == 1 and "[already_settled]" in result.output
