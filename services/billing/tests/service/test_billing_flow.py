"""Billing against the real broker and PostgreSQL, with the demo park's file (instalments
every two months, 15 days to pay): events delivered in reverse order, the billing cycle
run twice and in two instances, gapless numbering under concurrent issuers, payments
exactly once per bank transaction, utilities and paid services, and the buyback worked
example through the events. The trial balance is zero after each test (the fixture)."""

from __future__ import annotations

import threading
import uuid

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from services.billing import handlers
from services.billing.exceptions import Refused
from services.billing.orm import messaging
from services.billing.tests.service.conftest import (
    PARK,
    USCC,
    lease_unit,
    purchase_unit,
)
from tests.support.broker import wait_for


def holds(billing, enterprise_id: str) -> bool:
    with billing.uow() as uow:
        return bool(uow.billing.holdings(enterprise_id))


def inbox_count(billing, queue: str) -> int:
    with billing.database.transaction() as session:
        return session.execute(
            select(func.count())
            .select_from(messaging.inbox)
            .where(messaging.inbox.c.consumer == queue)
        ).scalar_one()


def park_error(message) -> str:
    value = (message.headers or {}).get("park-error", "")
    return value.decode() if isinstance(value, bytes) else str(value)


@pytest.mark.parametrize("billing", ["postgresql", "sqlite"], indirect=True)
def test_reverse_order_lease_cycle_twice_and_payments_exactly_once(billing, clock):
    billing.start()
    enterprise = f"ent-{uuid.uuid4().hex[:6]}"
    # units_allocated before enterprise_admitted: retried until the account exists
    billing.allocate(enterprise, [lease_unit("A-101")], "lease", lease_start="2026-11-16")
    billing.admit(enterprise)
    wait_for(lambda: holds(billing, enterprise), message="the lease held")

    clock.park_day(2026, 11, 16)
    first = billing.rpc("run_billing_cycle")
    again = billing.rpc("run_billing_cycle")
    assert len(first["issued"]) == 2 and again["issued"] == []
    issued = billing.wait_for_event("invoice_issued", 2, enterprise_id=enterprise)
    totals = sorted(p["total_fen"] for p in issued)
    assert totals == [22_500, 225_000]  # 15 of November's 30 days
    fee = next(p for p in issued if p["total_fen"] == 22_500)
    assert fee["due_on"] == "2026-12-01"  # the park's 15 days to pay

    payment = billing.pay(22_500, reference=fee["number"], txn="BANK-0001")
    billing.wait_for_event("invoice_paid", invoice_id=fee["invoice_id"])
    # the same bank transaction replayed under a new event id: applied once
    billing.publish("bank", "payment_received", dict(payment["payload"]))
    wait_for(lambda: inbox_count(billing, "billing.bank.payment_received") == 2, message="replay")
    assert len(billing.events_where("payment_applied", bank_txn_id="BANK-0001")) == 1
    # other content under the same bank_txn_id: refused with the reason
    billing.pay(1, txn="BANK-0001")
    [refused] = wait_for(lambda: billing.dead_letters(), message="the conflicting duplicate")
    assert "conflicting_duplicate" in park_error(refused)

    open_ = billing.rpc("open_invoices", enterprise)
    assert [i["outstanding_fen"] for i in open_] == [225_000]
    statement = billing.rpc("account_statement", enterprise, "2026-11")
    assert statement["charged_fen"] == 247_500 and statement["paid_fen"] == 22_500
    health = billing.rpc("health")
    assert health["service"] == "billing" and health["outbox_quarantined"] == 0
    page = billing.rpc("statement_html", enterprise, "2026-11")
    assert fee["number"] in page and page.lstrip().lower().startswith("<!doctype html")


def test_two_instances_running_the_cycle_at_once_issue_each_invoice_once(billing, clock):
    a, b = billing.start(), billing.start()
    enterprises = [f"ent-{uuid.uuid4().hex[:6]}" for _ in range(6)]
    for index, enterprise in enumerate(enterprises):
        billing.admit(enterprise, uscc=f"9141010000000{index:04d}X")
        billing.allocate(enterprise, [lease_unit(f"B-{index}")], "lease", "2026-11-01")
    wait_for(lambda: all(holds(billing, e) for e in enterprises), message="every lease held")
    clock.park_day(2026, 11, 1)
    results, errors = [], []

    def run(container):
        try:
            results.append(billing.rpc("run_billing_cycle", container=container))
        except Exception as error:  # reported below
            errors.append(error)

    for _ in range(2):  # both instances at once, twice
        threads = [threading.Thread(target=run, args=(c,)) for c in (a, b)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
    assert all(r["failed"] == [] for r in results)
    numbers = sorted(n for r in results for n in r["issued"])
    assert numbers == [f"AUX-2026-{n:06d}" for n in range(1, 13)]  # 6 × (rent, fee), once
    with billing.uow() as uow:
        stored = sorted(i["number"] for e in enterprises for i in uow.billing.invoices(e))
    assert stored == numbers
    billing.wait_for_event("invoice_issued", 12)


def test_gapless_numbers_under_concurrent_issuers_with_rollbacks(billing, clock):
    with billing.uow() as uow:
        uow.billing.add_account(
            enterprise_id="ent-n",
            park_id=PARK,
            uscc=USCC,
            name="n",
            credit_fen=0,
            admitted_at=clock(),
        )
        uow.commit()
    errors = []

    def issuer(index: int):
        uow = billing.uow()
        try:
            with uow:
                account = uow.billing.account("ent-n")
                line = {
                    "category": "service",
                    "description": f"job {index}",
                    "quantity": "1",
                    "unit_price_fen": 1_000,
                    "total_fen": 1_000,
                    "tax_rate": "0.06",
                    "tax_fen": 57,
                    "source": f"job:{index}",
                }
                handlers.issue_invoice(
                    uow, account, "service", "2026-11", [line], clock().date(), f"job-{index}"
                )
                if index % 3 == 0:
                    raise RuntimeError("rolled back after taking a number")
                uow.commit()
        except RuntimeError:
            pass
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=issuer, args=(i,)) for i in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with billing.uow() as uow:
        numbers = sorted(i["number"] for i in uow.billing.invoices("ent-n"))
    assert numbers == [f"AUX-2026-{n:06d}" for n in range(1, 17)]  # 16 kept, no gap


def test_utilities_and_paid_services_through_the_events(billing, clock):
    billing.start()
    enterprise = f"ent-{uuid.uuid4().hex[:6]}"
    billing.admit(enterprise)
    billing.allocate(enterprise, [lease_unit("C-1")], "lease", "2026-11-01")
    wait_for(lambda: holds(billing, enterprise), message="the lease held")

    def reading(value: str, hour: int) -> dict:
        return billing.envelope(
            "meters",
            "reading_recorded",
            {
                "meter_id": "W-C1",
                "unit_id": "C-1",
                "kind": "water",
                "reading": value,
                "read_at": f"2026-11-03T{hour:02d}:00:00Z",
            },
        )

    first, second = reading("100", 1), reading("110", 2)
    billing.send(first)
    wait_for(lambda: inbox_count(billing, "billing.meters.reading_recorded") == 1, message="base")
    billing.send(second)
    billing.send(billing.envelope("meters", "reading_recorded", second["payload"]))  # replay
    billing.send(reading("90", 3))  # a decrease: flagged, never billed negative
    [anomaly] = billing.wait_for_event("reading_anomaly", meter_id="W-C1")
    assert anomaly["why"] == "decrease"
    billing.publish(
        "ticketing",
        "ticket_resolved",
        {
            "ticket_id": "T-1",
            "enterprise_id": enterprise,
            "service_code": "LEGAL-03",
            "origin": "service_request",
            "request_id": str(uuid.uuid4()),
            "claim_id": None,
            "review": None,
            "firm_id": "law-1",
            "outcome": "done",
            "reasons": [],
            "fee_fen": 100_000,
        },
    )
    [payable] = billing.wait_for_event("firm_payable_recorded", ticket_id="T-1")
    assert (payable["commission_fen"], payable["payable_fen"]) == (10_000, 90_000)
    wait_for(
        lambda: inbox_count(billing, "billing.meters.reading_recorded") == 4, message="readings"
    )
    clock.park_day(2026, 11, 30)
    billing.rpc("run_billing_cycle")
    issued = billing.wait_for_event("invoice_issued", 4, enterprise_id=enterprise)
    by_category = {p["lines"][0]["category"]: p["total_fen"] for p in issued}
    assert by_category["water"] == 4_500  # 10 m³ × 450 fen, once
    assert by_category["service"] == 100_000


@pytest.mark.parametrize("billing", ["postgresql", "sqlite"], indirect=True)
def test_buyback_netting_the_worked_example_through_the_events(billing, clock):
    billing.start()
    enterprise = f"ent-{uuid.uuid4().hex[:6]}"
    billing.admit(enterprise)
    wait_for(lambda: billing.account_known(enterprise), message="the account")
    clock.park_day(2026, 1, 1)
    billing.allocate(enterprise, [purchase_unit("D-1")], "purchase")
    [down] = billing.wait_for_event("invoice_issued", enterprise_id=enterprise)
    assert down["total_fen"] == 28_800_000
    billing.pay(28_800_000, reference=down["number"])
    billing.wait_for_event("invoice_paid", invoice_id=down["invoice_id"])

    # the first pass since January: instalments 1 (March) and 2 (May), and the property
    # fees of January to April (months no pass billed) and May
    clock.park_day(2026, 5, 1)
    billing.rpc("run_billing_cycle")
    issued = billing.wait_for_event("invoice_issued", 7, enterprise_id=enterprise)
    instalments = next(p for p in issued if p["total_fen"] == 22_400_000)
    fees = [p for p in issued if p["lines"][0]["category"] == "property_fee"]
    [fee] = [p for p in fees if "2026-05" in p["lines"][0]["description"]]
    assert fee["due_on"] == "2026-05-16" and fee["total_fen"] == 45_000
    for paid in [instalments, *(p for p in fees if p is not fee)]:
        billing.pay(paid["total_fen"], reference=paid["number"])
        billing.wait_for_event("invoice_paid", invoice_id=paid["invoice_id"])

    clock.park_day(2026, 7, 15)  # the property fee 60 days past due
    claim_id = str(uuid.uuid4())
    # claim_settled first: retried until the settlement is computed
    billing.publish(
        "buyback",
        "claim_settled",
        {
            "claim_id": claim_id,
            "enterprise_id": enterprise,
            "units": ["D-1"],
            "gross_fen": 96_000_000,
            "net_fen": 51_088_327,
            "settled_on": "2026-07-15",
        },
    )
    billing.publish(
        "buyback",
        "settlement_requested",
        {
            "claim_id": claim_id,
            "enterprise_id": enterprise,
            "units": [{"unit_id": "D-1", "price_fen": 96_000_000}],
            "gross_fen": 96_000_000,
        },
    )
    [computed] = billing.wait_for_event("buyback_settlement_computed", claim_id=claim_id)
    # the issue's offsets, and the property fees accrued since the last pass and not
    # invoiced: June 45,000 + 1–14 July 45,000 × 14/31 = 20,323 → 65,323
    assert sorted((o["kind"], o["amount_fen"]) for o in computed["offsets"]) == [
        ("accrued_charge", 65_323),
        ("invoice", 45_000),
        ("late_fee", 1_350),
        ("purchase_balance", 44_800_000),
    ]
    assert computed["net_fen"] == 51_153_650 - 65_323
    [netted] = billing.wait_for_event("buyback_netted", claim_id=claim_id)
    assert (netted["payout_fen"], netted["still_owed_fen"]) == (51_088_327, 0)
    assert billing.rpc("open_invoices", enterprise) == []
    balance = billing.rpc("trial_balance")["accounts"]
    assert balance["buyback_payable"] == -51_088_327
    assert billing.dead_letters() == []


def test_the_same_bank_transaction_applied_concurrently_is_applied_once(billing, clock):
    with billing.uow() as uow:
        uow.billing.add_account(
            enterprise_id="ent-p",
            park_id=PARK,
            uscc=USCC,
            name="p",
            credit_fen=0,
            admitted_at=clock(),
        )
        uow.commit()
    payload = {
        "bank_txn_id": "BANK-RACE",
        "payer_uscc": USCC,
        "amount_fen": 10_000,
        "received_at": clock(),
        "reference": "",
    }
    outcomes, start = [], threading.Barrier(4)

    def receive():
        start.wait()
        try:
            outcomes.append(handlers.receive_payment(payload, billing.uow()))
        except IntegrityError:  # the loser's insert of the same key: transient, retried
            outcomes.append(handlers.receive_payment(payload, billing.uow()))

    threads = [threading.Thread(target=receive) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["applied", "duplicate", "duplicate", "duplicate"]
    with billing.uow() as uow:
        assert uow.billing.account("ent-p")["credit_fen"] == 10_000
        assert uow.billing.trial_balance()["cash"] == 10_000


def test_overdue_late_fee_waiver_credit_note_and_reports_over_rpc(billing, clock):
    billing.start()
    enterprise = f"ent-{uuid.uuid4().hex[:6]}"
    billing.admit(enterprise)
    billing.allocate(enterprise, [lease_unit("E-1")], "lease", lease_start="2026-03-01")
    wait_for(lambda: holds(billing, enterprise), message="the lease held")
    clock.park_day(2026, 3, 1)
    billing.rpc("run_billing_cycle")
    issued = billing.wait_for_event("invoice_issued", 2, enterprise_id=enterprise)
    fee = next(p for p in issued if p["total_fen"] == 45_000)
    rent = next(p for p in issued if p["total_fen"] == 450_000)
    billing.pay(450_000, reference=rent["number"])
    billing.wait_for_event("invoice_paid", invoice_id=rent["invoice_id"])

    clock.park_day(2026, 5, 15)  # the fee due 2026-03-16: 60 days past due
    result = billing.rpc("run_billing_cycle")
    assert fee["number"] in result["overdue"]
    [overdue] = billing.wait_for_event("invoice_overdue", invoice_id=fee["invoice_id"])
    assert overdue["outstanding_fen"] == 45_000
    [charged] = billing.wait_for_event("late_fee_charged", invoice_id=fee["invoice_id"])
    assert (charged["days"], charged["amount_fen"]) == (60, 1_350)
    aging = billing.rpc("aging_report", PARK, "2026-05-15")
    assert aging["enterprises"][enterprise]["31-60"] == 45_000

    waived = billing.rpc("waive_late_fee", fee["invoice_id"], "op-li", "first delay")
    assert waived["waived_fen"] == 1_350
    [notice] = billing.wait_for_event("late_fee_waived", invoice_id=fee["invoice_id"])
    assert notice["credited_fen"] == 1_350
    note = billing.rpc(
        "issue_credit_note", fee["invoice_id"], 5_000, "area measured 290 m²", "op-li"
    )
    assert note["amount_fen"] == 5_000
    billing.wait_for_event("credit_note_issued", credit_note_id=note["credit_note_id"])
    with pytest.raises(Refused, match="credit_exceeds_invoice"):  # over RPC: its code
        billing.rpc("issue_credit_note", fee["invoice_id"], 40_001, "too much", "op-li")
    open_ = {i["invoice_id"]: i for i in billing.rpc("open_invoices", enterprise)}
    assert open_[fee["invoice_id"]]["outstanding_fen"] == 40_000  # 45,000 − 5,000 credited
    assert not any(i["kind"] == "late_fee" for i in open_.values())  # waived: credited
    revenue = billing.rpc("revenue", PARK, 2026)
    assert revenue["by_category"]["rent"]["2026-03"] == 450_000 - 37_156


def test_a_release_after_an_operator_credit_never_credits_more_than_the_invoice(billing, clock):
    billing.start()
    enterprise = f"ent-{uuid.uuid4().hex[:6]}"
    billing.admit(enterprise)
    billing.allocate(enterprise, [lease_unit("R-1")], "lease", lease_start="2026-11-01")
    wait_for(lambda: holds(billing, enterprise), message="the lease held")
    clock.park_day(2026, 11, 1)
    billing.rpc("run_billing_cycle")
    issued = billing.wait_for_event("invoice_issued", 2, enterprise_id=enterprise)
    rent = next(p for p in issued if p["total_fen"] == 450_000)
    billing.rpc("issue_credit_note", rent["invoice_id"], 400_000, "wrong area", "op-li")

    clock.park_day(2026, 11, 16)
    billing.send(
        billing.envelope(
            "onboarding",
            "units_released",
            {
                "units": ["R-1"],
                "reason": "lease_ended",
                "application_id": None,
                "enterprise_id": enterprise,
            },
        )
    )
    # the release credits the 50,000 left on the rent line (and 15/30 of the fee)
    billing.wait_for_event("credit_note_issued", 3, enterprise_id=enterprise)
    credited = [
        n["amount_fen"]
        for n in billing.events_where("credit_note_issued", invoice_id=rent["invoice_id"])
    ]
    assert sorted(credited) == [50_000, 400_000]
    assert billing.events_where("credit_balance_changed", enterprise_id=enterprise) == []
    revenue = billing.rpc("revenue", PARK, 2026)
    assert revenue["by_category"].get("rent", {}).get("2026-11", 0) == 0


def test_a_claim_settled_with_another_net_than_computed_is_dead_lettered_with_the_reason(
    billing, clock
):
    billing.start()
    enterprise = f"ent-{uuid.uuid4().hex[:6]}"
    billing.admit(enterprise)
    wait_for(lambda: billing.account_known(enterprise), message="the account")
    clock.park_day(2026, 11, 1)
    billing.allocate(enterprise, [lease_unit("R-1")], "lease", lease_start="2026-11-01")
    wait_for(lambda: holds(billing, enterprise), message="the lease held")
    billing.rpc("run_billing_cycle")
    billing.wait_for_event("invoice_issued", 2, enterprise_id=enterprise)
    clock.park_day(2026, 11, 16)
    claim_id = str(uuid.uuid4())
    billing.publish(
        "buyback",
        "settlement_requested",
        {
            "claim_id": claim_id,
            "enterprise_id": enterprise,
            "units": [{"unit_id": "R-1", "price_fen": 1_000_000}],
            "gross_fen": 1_000_000,
        },
    )
    [computed] = billing.wait_for_event("buyback_settlement_computed", claim_id=claim_id)
    # November's rent and fee less the 15 days from the 16th they will be credited
    assert computed["net_fen"] == 1_000_000 - 225_000 - 22_500
    billing.publish(
        "buyback",
        "claim_settled",
        {
            "claim_id": claim_id,
            "enterprise_id": enterprise,
            "units": ["R-1"],
            "gross_fen": 1_000_000,
            "net_fen": 1_000_000,  # the offsets ignored: never silently accepted
            "settled_on": "2026-11-16",
        },
    )
    [refused] = wait_for(lambda: billing.dead_letters(), message="the mismatched settlement")
    assert "net_fen_mismatch" in park_error(refused) and "752500" in park_error(refused)
    assert billing.events_where("buyback_netted", claim_id=claim_id) == []
