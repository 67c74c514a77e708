"""The ledger invariant **as stored in PostgreSQL**, after randomised sequences of
operations run through the real handlers on a real database (hypothesis, few examples).

The handlers' ``post()`` refuses an unbalanced posting before it is stored, so a trial
balance computed from what ``post()`` accepted cannot fail. These checks read the
``ledger`` rows back with SQL and compare each account with the documents it must agree
with — which a wrong posting (right sum, wrong account or amount) does break:

- every posting (its memo) sums to zero, and so does the whole ledger;
- ``receivables`` = the sum of the invoices' open balances;
- ``customer_credit`` = −the sum of the accounts' credit balances;
- ``firm_payables`` = −(the firms' share of the invoiced services − what credit notes
  reversed): the payables not paid (the park pays no firm yet);
- ``suspense`` = −the payments still in suspense;
- ``buyback_payable`` = −the payouts of the settlements (``buyback_netted``).
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from sqlalchemy import func, select, text

from services.billing import handlers, orm
from services.billing.orm import messaging
from services.billing.tests.unit.fake_uow import PARK, TERMS, Clock
from services.billing.tests.unit.test_ledger_sequences import USCC, operations, run
from services.billing.unit_of_work import BillingRules, BillingUnitOfWork
from shared.db import Database
from shared.messaging.unit_of_work import Cause
from shared.tooling.migrate import upgrade
from tests.support.fixtures import PG_SERVER, _admin_engine

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
TABLES = ", ".join(table.name for table in orm.metadata.sorted_tables)


class PostgresUnitOfWork(BillingUnitOfWork):
    """Billing's unit of work on the test's PostgreSQL database, with the helpers the
    sequence runner uses (``rows``) and the demo park's terms."""

    def __init__(self, database: Database, clock: Clock):
        super().__init__(
            database,
            messaging,
            source="billing",
            clock=lambda: clock(),
            rules=BillingRules({PARK: TERMS}),
        )
        self._given_cause = Cause(park_id=PARK)

    def rows(self, table) -> list[dict]:
        with self.database.transaction() as session:
            return [dict(r._mapping) for r in session.execute(select(table))]


@pytest.fixture(scope="module")
def database():
    """One PostgreSQL database for the module (hypothesis runs every example in it, each
    from empty), migrated as production is; dropped afterwards."""
    name = f"park_test_billing_ledger_{uuid.uuid4().hex[:10]}"
    admin = _admin_engine()
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = f"{PG_SERVER}/{name}"
    try:
        upgrade(url, MIGRATIONS)
        db = Database(url)
        yield db
        db.dispose()
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def stored_balances(uow) -> tuple[dict[str, int], dict[str, int]]:
    """Every account's balance and every posting's (memo's) sum, read back with SQL."""
    ledger = orm.ledger.c
    with uow.database.transaction() as session:
        accounts = {
            account: int(total)
            for account, total in session.execute(
                select(ledger.account, func.sum(ledger.amount_fen)).group_by(ledger.account)
            )
        }
        postings = {
            memo: int(total)
            for memo, total in session.execute(
                select(ledger.memo, func.sum(ledger.amount_fen)).group_by(ledger.memo)
            )
        }
    return accounts, postings


def check_stored_ledger(uow) -> None:
    accounts, postings = stored_balances(uow)
    assert {memo: total for memo, total in postings.items() if total} == {}
    assert sum(accounts.values()) == 0, accounts
    invoices = uow.rows(orm.invoices)
    open_balances = sum(i["total_fen"] - i["paid_fen"] - i["credited_fen"] for i in invoices)
    assert accounts.get("receivables", 0) == open_balances, accounts
    credit = sum(a["credit_fen"] for a in uow.rows(orm.accounts))
    assert accounts.get("customer_credit", 0) == -credit, accounts
    invoiced_payables = sum(
        line.get("payable_fen", 0) for invoice in invoices for line in invoice["lines"]
    )
    reversed_payables = sum(
        line.get("payable_fen", 0) for note in uow.rows(orm.credit_notes) for line in note["lines"]
    )
    assert accounts.get("firm_payables", 0) == -(invoiced_payables - reversed_payables)
    suspense = sum(p["amount_fen"] for p in uow.rows(orm.payments) if p["status"] == "suspense")
    assert accounts.get("suspense", 0) == -suspense, accounts
    payouts = sum(e["payload"]["payout_fen"] for e in events(uow, "buyback_netted"))
    assert accounts.get("buyback_payable", 0) == -payouts, accounts


def events(uow, type_: str) -> list[dict]:
    with uow.database.transaction() as session:
        bodies = session.execute(select(messaging.outbox.c.body)).scalars().all()
    found = [json.loads(body) for body in bodies]
    return [event for event in found if event["type"] == type_]


@settings(
    max_examples=int(os.environ.get("BILLING_PG_LEDGER_EXAMPLES", "6")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(operations)
def test_the_stored_ledger_agrees_with_the_documents_after_any_sequence(database, steps):
    with database.transaction() as session:
        session.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
    clock = Clock(datetime(2026, 11, 1, 2, 0, tzinfo=UTC))
    uow = PostgresUnitOfWork(database, clock)
    handlers.admit_enterprise(
        {"enterprise_id": "ent-1", "uscc": USCC, "enterprise_name": "恒达"}, PARK, uow
    )
    handlers.allocate_units(
        {
            "enterprise_id": "ent-1",
            "contract_id": "C-1",
            "tenure": "lease",
            "lease_start": date(2026, 11, 1),
            "units": [
                {
                    "unit_id": "A-101",
                    "area_m2": 300,
                    "tenure": "lease",
                    "price_fen": None,
                    "monthly_rent_fen": 450_000,
                    "monthly_property_fee_fen": 45_000,
                    "contract_id": "C-1",
                }
            ],
        },
        clock(),
        uow,
    )
    suspense: list[str] = []
    for step in steps:
        run(uow, clock, step, suspense)
        check_stored_ledger(uow)
