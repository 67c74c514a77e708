"""The ledger invariant after randomised sequences of billing operations (hypothesis):
the trial balance is zero, and the ledger agrees with the documents — receivables are
what the invoices still owe, customer credit is the accounts' credit balances, suspense
is the unmatched payments, and revenue and VAT payable are the invoiced lines less the
credit-note lines (never a debit balance: no credit takes more than is left on a line),
the firms' payables are the invoiced services' payables less what credits reversed, cash
is every payment received, and a buyback's repurchase is its payout plus what it netted."""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.billing import handlers, orm
from services.billing.exceptions import Refused
from services.billing.tests.unit.fake_uow import PARK, Clock, FakeUnitOfWork

USCC = "91410100000000019L"
STRANGER = "91110000000000000X"

operations = st.lists(
    st.one_of(
        st.tuples(st.just("cycle"), st.integers(1, 40)),
        st.tuples(st.just("pay"), st.integers(1, 600_000), st.booleans()),
        st.tuples(st.just("stranger_pays"), st.integers(1, 100_000)),
        st.tuples(st.just("match"), st.just(0)),
        st.tuples(st.just("credit"), st.integers(0, 20), st.integers(1, 500_000)),
        st.tuples(st.just("waive"), st.integers(0, 20)),
        st.tuples(st.just("service"), st.integers(0, 200_000)),
        st.tuples(st.just("release"), st.just(0)),
        # an operator's credit on this month's rent, then the unit released days later
        st.tuples(st.just("credit_then_release"), st.integers(1, 450_000), st.integers(0, 27)),
        st.tuples(st.just("purchase"), st.integers(1, 50_000_000)),
        st.tuples(st.just("buyback"), st.integers(1, 60_000_000)),
    ),
    min_size=1,
    max_size=12,
)


def check(uow) -> None:
    balance = handlers.trial_balance(uow)
    assert balance["total_fen"] == 0, balance
    accounts = balance["accounts"]
    owed = sum(handlers.outstanding(i) for i in uow.rows(orm.invoices))
    assert accounts.get("receivables", 0) == owed
    credit = sum(a["credit_fen"] for a in uow.rows(orm.accounts))
    assert accounts.get("customer_credit", 0) == -credit
    suspense = sum(p["amount_fen"] for p in uow.rows(orm.payments) if p["status"] == "suspense")
    assert accounts.get("suspense", 0) == -suspense
    assert accounts.get("cash", 0) == sum(p["amount_fen"] for p in uow.rows(orm.payments))
    # a buyback pays out what netting the open invoices left of the repurchase price
    payouts = sum(e["payout_fen"] for e in uow.payloads("buyback_netted"))
    assert accounts.get("buyback_payable", 0) == -payouts
    netted = sum(
        s["amount_fen"] for s in uow.rows(orm.invoice_settlements) if s["kind"] == "buyback"
    )
    assert accounts.get("units_repurchased", 0) == payouts + netted
    check_revenue_and_vat(uow, accounts)


def check_revenue_and_vat(uow, accounts: dict) -> None:
    expected: dict[str, int] = defaultdict(int)
    credited: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0])
    for invoice in uow.rows(orm.invoices):
        for line in invoice["lines"]:
            payable = line.get("payable_fen", 0)
            net = line["total_fen"] - line["tax_fen"] - payable
            expected[f"revenue:{line['category']}"] -= net
            expected["vat_payable"] -= line["tax_fen"]
            expected["firm_payables"] -= payable
    lines_of = {i["invoice_id"]: i["lines"] for i in uow.rows(orm.invoices)}
    for note in uow.rows(orm.credit_notes):
        for line in note["lines"]:
            payable = line.get("payable_fen", 0)
            expected[f"revenue:{line['category']}"] += line["total_fen"] - line["tax_fen"] - payable
            expected["vat_payable"] += line["tax_fen"]
            expected["firm_payables"] += payable
            taken = credited[note["invoice_id"], line["line_index"]]
            taken[0] += line["total_fen"]
            taken[1] += line["tax_fen"]
    for (invoice_id, index), (total, tax) in credited.items():
        line = lines_of[invoice_id][index]
        assert total <= line["total_fen"] and tax <= line["tax_fen"], (line, total, tax)
    for name, balance in expected.items():
        assert accounts.get(name, 0) == balance, (name, accounts)
    for name, balance in accounts.items():
        # a credit on a service line reverses the firm's payable with it, so no revenue
        # (the commission included) and no payable is ever left in debit
        if name.startswith("revenue:") or name in ("vat_payable", "firm_payables"):
            assert balance <= 0, (name, accounts)


@settings(
    max_examples=int(os.environ.get("BILLING_LEDGER_EXAMPLES", "30")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(operations)
def test_the_ledger_balances_after_any_sequence(steps):
    with tempfile.TemporaryDirectory() as directory:
        clock = Clock(datetime(2026, 11, 1, 2, 0, tzinfo=UTC))
        uow = FakeUnitOfWork(Path(directory) / "billing.db", clock)
        try:
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
                check(uow)
        finally:
            uow.database.dispose()


def run(uow, clock, step, suspense) -> None:
    kind = step[0]
    invoices = sorted(uow.rows(orm.invoices), key=lambda i: i["number"])
    if kind == "cycle":
        clock.advance(days=step[1])
        assert handlers.run_billing_cycle(uow).failed == []
    elif kind == "pay":
        open_ = [i for i in invoices if handlers.outstanding(i) > 0]
        reference = open_[-1]["number"] if step[2] and open_ else ""
        handlers.receive_payment(payment(clock, step[1], USCC, reference), uow)
    elif kind == "stranger_pays":
        found = payment(clock, step[1], STRANGER, "")
        handlers.receive_payment(found, uow)
        suspense.append(found["bank_txn_id"])
    elif kind == "match" and suspense:
        handlers.match_payment(suspense.pop(), "ent-1", "op", "identified", uow)
    elif kind == "credit" and invoices:
        invoice = invoices[step[1] % len(invoices)]
        with contextlib.suppress(Refused):
            handlers.issue_credit_note(invoice["invoice_id"], step[2], "fix", "op", uow)
    elif kind == "waive" and invoices:
        with contextlib.suppress(Refused):
            handlers.waive_late_fee(
                invoices[step[1] % len(invoices)]["invoice_id"], "op", "ok", uow
            )
    elif kind == "service":
        handlers.charge_resolved_ticket(
            {
                "ticket_id": f"T-{uuid.uuid4().hex[:6]}",
                "enterprise_id": "ent-1",
                "service_code": "LEGAL-03",
                "firm_id": "law-1",
                "outcome": "done",
                "fee_fen": step[1] or None,
                "claim_id": None,
            },
            uow,
        )
    elif kind == "purchase" and not uow.rows(orm.instalments):
        handlers.allocate_units(
            {
                "enterprise_id": "ent-1",
                "contract_id": "C-2",
                "tenure": "purchase",
                "lease_start": None,
                "units": [
                    {
                        "unit_id": "P-1",
                        "area_m2": 300,
                        "tenure": "purchase",
                        "price_fen": step[1],
                        "monthly_rent_fen": None,
                        "monthly_property_fee_fen": 45_000,
                        "contract_id": "C-2",
                    }
                ],
            },
            clock(),
            uow,
        )
    elif kind == "buyback" and uow.rows(orm.instalments) and not uow.rows(orm.settlements):
        claim_id = str(uuid.uuid4())
        units = {"unit_id": "P-1", "price_fen": step[1]}
        handlers.compute_settlement(
            {
                "claim_id": claim_id,
                "enterprise_id": "ent-1",
                "units": [units],
                "gross_fen": step[1],
            },
            uow,
        )
        handlers.settle_claim(
            {
                "claim_id": claim_id,
                "enterprise_id": "ent-1",
                "units": ["P-1"],
                "gross_fen": step[1],
                "net_fen": None,
                "settled_on": clock().date(),
            },
            uow,
        )
    elif kind == "credit_then_release":
        rents = [i for i in invoices if i["kind"] == "rent"]
        if rents:
            with contextlib.suppress(Refused):
                handlers.issue_credit_note(rents[-1]["invoice_id"], step[1], "fix", "op", uow)
        clock.advance(days=step[2])
        release(uow, clock)
    elif kind == "release":
        release(uow, clock)


def release(uow, clock) -> None:
    handlers.release_units(
        {
            "units": ["A-101"],
            "reason": "lease_ended",
            "application_id": None,
            "enterprise_id": "ent-1",
        },
        clock(),
        uow,
    )


def payment(clock, amount, uscc, reference) -> dict:
    return {
        "bank_txn_id": f"BANK-{uuid.uuid4().hex[:10]}",
        "payer_uscc": uscc,
        "amount_fen": amount,
        "received_at": clock() + timedelta(seconds=1),
        "reference": reference,
    }
