"""Billing's use cases on a fake unit of work (real queries on a throw-away SQLite file,
a clock the test moves): each charge type with proration, the cycle's idempotency,
numbering, payments in every matching case, late fees and their cap, credit notes and
waivers, the buyback worked example — and the trial balance zero after each test."""

from __future__ import annotations

import contextlib
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from services.billing import handlers, orm
from services.billing.domain.errors import NotYetApplicable
from services.billing.exceptions import InvalidRequest, NotFound, Refused
from services.billing.tests.unit.fake_uow import PARK, Clock, FakeUnitOfWork
from shared.messaging.errors import MalformedMessage

USCC = "91410100000000019L"
REPO = Path(__file__).resolve().parents[4]


@pytest.fixture
def clock():
    return Clock(datetime(2026, 11, 2, 2, 0, tzinfo=UTC))


@pytest.fixture
def uow(tmp_path, clock):
    unit = FakeUnitOfWork(tmp_path / "billing.db", clock)
    yield unit
    balance = handlers.trial_balance(unit)
    assert balance["total_fen"] == 0, balance
    unit.database.dispose()


def admit(uow, enterprise_id="ent-1", uscc=USCC):
    handlers.admit_enterprise(
        {"enterprise_id": enterprise_id, "uscc": uscc, "enterprise_name": "恒达精密"}, PARK, uow
    )
    return enterprise_id


def unit(unit_id="A-101", tenure="lease", area=300, price=None, rent=None, fee=45_000):
    return {
        "unit_id": unit_id,
        "area_m2": area,
        "tenure": tenure,
        "price_fen": price if tenure == "purchase" else None,
        "monthly_rent_fen": (rent if rent is not None else area * 1_500)
        if tenure == "lease"
        else None,
        "monthly_property_fee_fen": fee,
        "contract_id": "C-1",
    }


def allocate(uow, units, enterprise_id="ent-1", contract_id="C-1", on=None):
    tenure = units[0]["tenure"]
    payload = {
        "application_id": str(uuid.uuid4()),
        "enterprise_id": enterprise_id,
        "contract_id": contract_id,
        "tenure": tenure,
        "units": units,
        "lease_start": on if tenure == "lease" else None,
        "lease_end": None,
    }
    return handlers.allocate_units(payload, uow.clock(), uow)


def pay(uow, amount, reference="", txn=None, uscc=USCC, at=None):
    payload = {
        "bank_txn_id": txn or f"txn-{uuid.uuid4().hex[:8]}",
        "payer_uscc": uscc,
        "amount_fen": amount,
        "received_at": at or uow.clock(),
        "reference": reference,
    }
    return payload["bank_txn_id"], handlers.receive_payment(payload, uow)


def cycle(uow, clock, y, m, d):
    clock.set_park_date(y, m, d)
    return handlers.run_billing_cycle(uow)


def invoices(uow, kind=None):
    rows = sorted(uow.rows(orm.invoices), key=lambda r: r["number"])
    return [r for r in rows if kind is None or r["kind"] == kind]


# -- charges and proration -----------------------------------------------------------------


def test_a_lease_from_mid_month_is_billed_rent_and_property_fee_prorated_by_day(uow, clock):
    admit(uow)
    allocate(uow, [unit()], on=date(2026, 11, 16))
    result = cycle(uow, clock, 2026, 11, 16)
    assert result.failed == []
    [rent] = invoices(uow, "rent")
    [fee] = invoices(uow, "property_fee")
    # 450,000 × 15/30 = 225,000; tax 225,000 × 0.09 / 1.09 = 18,577.98… → 18,578
    assert rent["total_fen"] == 225_000 and rent["tax_fen"] == 18_578
    # 45,000 × 15/30 = 22,500; tax 22,500 × 0.06 / 1.06 = 1,273.58… → 1,274
    assert fee["total_fen"] == 22_500 and fee["tax_fen"] == 1_274
    assert "15/30" in rent["lines"][0]["description"]
    assert {rent["number"], fee["number"]} == {"AUX-2026-000001", "AUX-2026-000002"}
    issued = uow.payloads("invoice_issued")
    assert [p["total_fen"] for p in issued] == [225_000, 22_500]
    assert issued[0]["due_on"] == "2026-12-16"


def test_nothing_to_charge_issues_no_invoice_and_takes_no_number(uow, clock):
    admit(uow)
    allocate(uow, [unit(rent=0, fee=0)], on=date(2026, 11, 1))
    assert cycle(uow, clock, 2026, 11, 1).issued == []
    assert invoices(uow) == [] and uow.payloads("invoice_issued") == []
    allocate(uow, [unit("A-102", fee=45_000)], contract_id="C-2", on=date(2026, 12, 1))
    cycle(uow, clock, 2026, 12, 1)
    assert invoices(uow)[0]["number"] == "AUX-2026-000001"  # no number was taken for 0


def test_the_property_fee_is_the_units_own_fee_from_its_allocation(uow, clock):
    # the park's policy (onboarding's prices) sets the unit's monthly fee: 200 fen/m² ×
    # 300 m² = 60,000, not a rate of billing's own; 7 of 30 days = 14,000
    admit(uow)
    allocate(uow, [unit(fee=60_000)], on=date(2026, 11, 24))
    cycle(uow, clock, 2026, 11, 24)
    [fee] = invoices(uow, "property_fee")
    [line] = fee["lines"]
    assert (line["total_fen"], line["quantity"], line["unit_price_fen"]) == (14_000, "300", 200)


def test_the_cycle_run_twice_issues_once(uow, clock):
    admit(uow)
    allocate(uow, [unit()], on=date(2026, 11, 1))
    first = cycle(uow, clock, 2026, 11, 1)
    second = cycle(uow, clock, 2026, 11, 20)
    assert len(first.issued) == 2 and second.issued == []
    assert len(uow.payloads("invoice_issued")) == 2
    december = cycle(uow, clock, 2026, 12, 1)
    assert len(december.issued) == 2
    assert [i["number"][-6:] for i in invoices(uow)] == ["000001", "000002", "000003", "000004"]


def test_a_purchase_invoices_the_down_payment_at_once_and_instalments_month_by_month(uow, clock):
    admit(uow)
    clock.set_park_date(2026, 1, 1)
    allocate(uow, [unit(tenure="purchase", price=96_000_000)])
    [down] = invoices(uow, "purchase")
    assert down["total_fen"] == 28_800_000
    assert down["lines"][0]["tax_fen"] == 2_377_982  # 28,800,000 × 0.09 / 1.09
    cycle(uow, clock, 2026, 2, 1)
    instalment = [i for i in invoices(uow, "purchase") if i["period"] == "2026-02"]
    assert [i["total_fen"] for i in instalment] == [11_200_000]
    # a missed month: the next cycle bills every instalment due so far, once
    cycle(uow, clock, 2026, 4, 1)
    april = [i for i in invoices(uow, "purchase") if i["period"] == "2026-04"]
    assert [len(i["lines"]) for i in april] == [2]
    assert april[0]["total_fen"] == 22_400_000


def test_a_redelivered_allocation_changes_nothing(uow, clock):
    admit(uow)
    clock.set_park_date(2026, 1, 5)
    payload = {
        "application_id": str(uuid.uuid4()),
        "enterprise_id": "ent-1",
        "contract_id": "C-1",
        "tenure": "purchase",
        "units": [unit(tenure="purchase", price=96_000_000)],
        "lease_start": None,
        "lease_end": None,
    }
    handlers.allocate_units(payload, clock(), uow)
    handlers.allocate_units(payload, clock(), uow)  # the same event again
    assert len(uow.rows(orm.holdings)) == 1
    assert len(uow.rows(orm.instalments)) == 7  # the down payment and six instalments
    assert [i["total_fen"] for i in invoices(uow, "purchase")] == [28_800_000]


def test_the_allocation_months_cycle_bills_the_fee_not_the_down_payment_again(uow, clock):
    admit(uow)
    clock.set_park_date(2026, 11, 16)
    allocate(uow, [unit(tenure="purchase", price=96_000_000)])
    [down] = invoices(uow, "purchase")
    assert [i["invoice_id"] for i in uow.rows(orm.instalments) if i["sequence"] == 0] == [
        down["invoice_id"]
    ]
    cycle(uow, clock, 2026, 11, 16)
    assert invoices(uow, "purchase") == [down]
    [fee] = invoices(uow, "property_fee")
    assert fee["total_fen"] == 22_500  # 15 of 30 days


def test_allocation_before_admission_is_retried_not_refused(uow):
    with pytest.raises(NotYetApplicable):
        allocate(uow, [unit()], on=date(2026, 11, 1))
    admit(uow)
    allocate(uow, [unit()], on=date(2026, 11, 1))


def test_release_stops_recurring_charges_and_credits_the_days_already_billed(uow, clock):
    admit(uow)
    allocate(uow, [unit()], on=date(2026, 11, 1))
    cycle(uow, clock, 2026, 11, 1)
    clock.set_park_date(2026, 11, 21)
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
    notes = uow.payloads("credit_note_issued")
    # held 1–20 November: 20/30 kept; 450,000 − 300,000 and 45,000 − 30,000 credited
    assert sorted(n["amount_fen"] for n in notes) == [15_000, 150_000]
    assert all(n["by"] is None for n in notes)
    december = cycle(uow, clock, 2026, 12, 1)
    assert december.issued == []


def _release(uow, on: datetime, claim_id=None):
    handlers.release_units(
        {
            "units": ["A-101"],
            "reason": "buyback" if claim_id else "lease_ended",
            "application_id": None,
            "enterprise_id": "ent-1",
            "claim_id": claim_id,
        },
        on,
        uow,
    )


def test_a_unit_released_again_is_credited_only_the_days_the_earlier_release_left(uow, clock):
    admit(uow)
    allocate(uow, [unit()], on=date(2026, 11, 1))
    cycle(uow, clock, 2026, 11, 1)
    clock.set_park_date(2026, 11, 21)
    _release(uow, clock())
    _release(uow, clock())  # the same release again: nothing more
    assert sorted(n["amount_fen"] for n in uow.payloads("credit_note_issued")) == [
        15_000,
        150_000,
    ]
    # an earlier end arrives later (e.g. a buyback settled on 11 November): only the
    # ten days between are credited, not again the ten the first release credited
    _release(uow, datetime(2026, 11, 11, 2, 0, tzinfo=UTC))
    notes = uow.payloads("credit_note_issued")
    assert sorted(n["amount_fen"] for n in notes[2:]) == [15_000, 150_000]
    [open_rent] = [i for i in handlers.open_invoices("ent-1", uow) if i["kind"] == "rent"]
    assert open_rent["outstanding_fen"] == 150_000  # 10 of 30 days held
    _release(uow, datetime(2026, 11, 25, 2, 0, tzinfo=UTC))  # a later end: the earlier stands
    assert len(uow.payloads("credit_note_issued")) == 4


def test_meter_readings_duplicates_out_of_order_and_decreases(uow, clock):
    admit(uow)
    allocate(uow, [unit()], on=date(2026, 11, 1))

    def read(value, hour):
        return handlers.record_meter_reading(
            {
                "meter_id": "W-1",
                "unit_id": "A-101",
                "kind": "water",
                "reading": value,
                "read_at": datetime(2026, 11, 3, hour, tzinfo=UTC),
            },
            uow,
        )

    assert read("100.0", 1).value == "baseline"
    assert read("110.5", 3).value == "recorded"
    assert read("110.5", 3).value == "duplicate"
    assert read("105", 2).value == "out_of_order"
    assert read("90", 4).value == "decrease"
    assert read("120", 5).value == "recorded"
    [anomaly] = uow.payloads("reading_anomaly")
    assert anomaly["why"] == "decrease" and anomaly["previous_reading"] == "110.5"
    cycle(uow, clock, 2026, 11, 30)
    [water] = invoices(uow, "utilities")
    assert water["total_fen"] == 9_000  # 20 m³ × 450 fen, billed once
    cycle(uow, clock, 2026, 12, 1)
    assert len(invoices(uow, "utilities")) == 1  # nothing consumed since


def test_a_replaced_meter_is_rebaselined_its_old_use_billed_and_its_new_readings_billed(uow, clock):
    admit(uow)
    allocate(uow, [unit(fee=0, rent=0)], on=date(2026, 11, 1))
    _water(uow, "5000", 2)
    _water(uow, "5020", 9)  # 20 m³ on the old meter, not billed yet
    clock.set_park_date(2026, 11, 10)
    result = handlers.rebaseline_meter("W-1", "0", "op-li", "meter replaced", uow)
    assert result == {"meter_id": "W-1", "reading": "0", "billed_fen": 9_000}  # 20 × 450
    [old] = invoices(uow, "utilities")
    assert old["total_fen"] == 9_000
    [event] = uow.payloads("meter_rebaselined")
    assert (event["previous_reading"], event["reading"], event["by"]) == ("5020", "0", "op-li")
    assert [a["action"] for a in uow.rows(orm.audit)] == ["rebaseline_meter"]
    _water(uow, "12", 11)  # the new meter: 12 m³, not a decrease from 5,020
    assert uow.payloads("reading_anomaly") == []
    cycle(uow, clock, 2026, 12, 1)
    assert [i["total_fen"] for i in invoices(uow, "utilities")] == [9_000, 5_400]  # 12 × 450


def test_a_rebaseline_is_refused_for_an_unknown_meter_a_bad_reading_or_an_older_time(uow, clock):
    with pytest.raises(NotFound):
        handlers.rebaseline_meter("W-9", "0", "op", "x", uow)
    admit(uow)
    allocate(uow, [unit()], on=date(2026, 11, 1))
    _water(uow, "10", 9)
    clock.set_park_date(2026, 11, 10)
    with pytest.raises(InvalidRequest, match="reading"):
        handlers.rebaseline_meter("W-1", "-1", "op", "x", uow)
    with pytest.raises(Refused, match="rebaseline_before_last_reading"):
        handlers.rebaseline_meter(
            "W-1", "0", "op", "x", uow, read_at=datetime(2026, 11, 8, tzinfo=UTC)
        )
    assert uow.payloads("meter_rebaselined") == []


def test_a_paid_service_is_charged_with_the_firm_payable_and_a_review_is_free(uow, clock):
    admit(uow)

    def resolved(ticket_id, fee, outcome="done", claim_id=None):
        return handlers.charge_resolved_ticket(
            {
                "ticket_id": ticket_id,
                "enterprise_id": "ent-1",
                "service_code": "LEGAL-03",
                "firm_id": "law-1",
                "outcome": outcome,
                "fee_fen": fee,
                "claim_id": claim_id,
            },
            uow,
        )

    assert resolved("T-1", 33_335) is not None
    assert resolved("T-1", 33_335) is None  # the same ticket: charged once
    assert resolved("T-2", None) is None
    assert resolved("T-3", 50_000, outcome="approve", claim_id=str(uuid.uuid4())) is None
    [payable] = uow.payloads("firm_payable_recorded")
    assert (payable["commission_fen"], payable["payable_fen"]) == (3_334, 30_001)
    cycle(uow, clock, 2026, 11, 30)
    [service] = invoices(uow, "service")
    assert service["total_fen"] == 33_335
    balance = handlers.trial_balance(uow)["accounts"]
    assert balance["firm_payables"] == -30_001


def test_a_paid_service_redelivered_after_it_was_invoiced_is_not_charged_again(uow, clock):
    admit(uow)
    resolved = {
        "ticket_id": "T-1",
        "enterprise_id": "ent-1",
        "service_code": "LEGAL-03",
        "firm_id": "law-1",
        "outcome": "done",
        "fee_fen": 100_000,
        "claim_id": None,
    }
    handlers.charge_resolved_ticket(resolved, uow)
    cycle(uow, clock, 2026, 11, 30)
    [service] = invoices(uow, "service")
    assert [(line["total_fen"], line["tax_fen"]) for line in service["lines"]] == [(100_000, 5_660)]
    assert handlers.charge_resolved_ticket(resolved, uow) is None  # ticket_resolved again
    cycle(uow, clock, 2026, 12, 31)
    assert [i["invoice_id"] for i in invoices(uow, "service")] == [service["invoice_id"]]
    assert len(uow.payloads("firm_payable_recorded")) == 1
    # posted with the sale: the firm's 90,000; the park's commission 10,000 less the VAT
    accounts = handlers.trial_balance(uow)["accounts"]
    assert (accounts["firm_payables"], accounts["revenue:service"]) == (-90_000, -4_340)


def test_a_service_for_an_unknown_enterprise_is_retried(uow):
    with pytest.raises(NotYetApplicable):
        handlers.charge_resolved_ticket(
            {
                "ticket_id": "T-9",
                "enterprise_id": "nobody",
                "service_code": "LEGAL-03",
                "firm_id": "law-1",
                "outcome": "done",
                "fee_fen": 100,
                "claim_id": None,
            },
            uow,
        )


# -- payments -------------------------------------------------------------------------------


def two_invoices(uow, clock):
    admit(uow)
    allocate(uow, [unit()], on=date(2026, 11, 1))
    cycle(uow, clock, 2026, 11, 1)
    return invoices(uow, "rent")[0], invoices(uow, "property_fee")[0]


def test_a_payment_goes_to_the_referenced_invoice_first(uow, clock):
    _rent, fee = two_invoices(uow, clock)
    _, outcome = pay(uow, 45_000, reference=fee["number"])
    assert outcome == "applied"
    [applied] = uow.payloads("payment_applied")
    assert applied["invoice_id"] == fee["invoice_id"]
    [paid] = uow.payloads("invoice_paid")
    assert paid["number"] == fee["number"]


def test_a_payment_without_reference_pays_the_oldest_due_and_overpayment_is_credit(uow, clock):
    _rent, _fee = two_invoices(uow, clock)
    pay(uow, 500_000)
    applied = uow.payloads("payment_applied")
    assert [a["amount_fen"] for a in applied] == [450_000, 45_000]
    [credit] = uow.payloads("payment_credited")
    assert credit["amount_fen"] == 5_000 and credit["credit_balance_fen"] == 5_000
    # the credit pays next month's first invoice
    cycle(uow, clock, 2026, 12, 1)
    [from_credit] = uow.payloads("credit_applied")
    assert from_credit["amount_fen"] == 5_000 and from_credit["credit_balance_fen"] == 0


def test_the_same_bank_transaction_twice_applies_once_and_other_content_is_refused(uow, clock):
    two_invoices(uow, clock)
    _txn, first = pay(uow, 100_000, txn="BANK-1")
    _, again = pay(uow, 100_000, txn="BANK-1")
    assert (first, again) == ("applied", "duplicate")
    assert len(uow.payloads("payment_applied")) == 1
    with pytest.raises(handlers.PaymentConflict, match="conflicting_duplicate"):
        pay(uow, 999, txn="BANK-1")
    assert [r["amount_fen"] for r in uow.rows(orm.payments)] == [100_000]


def test_an_unknown_payer_goes_to_suspense_until_an_operator_matches_it(uow, clock):
    two_invoices(uow, clock)
    txn, outcome = pay(uow, 45_000, uscc="91110000000000000X")
    assert outcome == "suspense"
    [unmatched] = uow.payloads("payment_unmatched")
    assert unmatched["why"] == "unknown_payer"
    assert handlers.trial_balance(uow)["accounts"]["suspense"] == -45_000
    result = handlers.match_payment(txn, "ent-1", "op-li", "payer is the parent company", uow)
    assert result["applied"][0]["amount_fen"] == 45_000
    assert handlers.trial_balance(uow)["accounts"]["suspense"] == 0
    with pytest.raises(Refused, match="not_in_suspense"):
        handlers.match_payment(txn, "ent-1", "op-li", "again", uow)
    with pytest.raises(NotFound):
        handlers.match_payment("nope", "ent-1", "op-li", "x", uow)


# -- overdue, late fees, waivers, credit notes ----------------------------------------------


def test_overdue_then_late_fee_charged_on_the_next_cycle_and_capped(uow, clock):
    admit(uow)
    allocate(uow, [unit(rent=1_000, fee=0)], on=date(2026, 1, 1))  # a small rent
    cycle(uow, clock, 2026, 1, 1)  # rent 1,000, due 2026-01-31
    cycle(uow, clock, 2026, 2, 1)
    [overdue] = uow.payloads("invoice_overdue")
    assert overdue["outstanding_fen"] == 1_000
    [fee] = uow.payloads("late_fee_charged")
    assert fee["days"] == 1 and fee["amount_fen"] == 1  # 1,000 × 0.0005 × 1 = 0.5 → 1
    # years later: never more than the principal
    cycle(uow, clock, 2033, 1, 1)  # 2,527 days × 0.5 fen > the 999 fen left
    january = [
        f for f in uow.payloads("late_fee_charged") if f["invoice_id"] == overdue["invoice_id"]
    ]
    assert sum(f["amount_fen"] for f in january) == 1_000
    assert january[-1]["capped"] is True
    # reported overdue once, however many cycles see it overdue
    reported = [
        o for o in uow.payloads("invoice_overdue") if o["invoice_id"] == overdue["invoice_id"]
    ]
    assert len(reported) == 1


def test_an_invoice_paid_late_between_two_cycles_is_charged_its_late_days(uow, clock):
    admit(uow)
    allocate(uow, [unit(rent=0, fee=45_000)], on=date(2026, 3, 1))
    cycle(uow, clock, 2026, 3, 1)  # property fee 45,000 due 2026-03-31
    [fee_invoice] = invoices(uow, "property_fee")
    clock.set_park_date(2026, 4, 12)  # paid in full, twelve days late, before any cycle
    pay(uow, 45_000, reference=fee_invoice["number"])
    assert [p["invoice_id"] for p in uow.payloads("invoice_paid")] == [fee_invoice["invoice_id"]]
    cycle(uow, clock, 2026, 5, 1)
    [charged] = [
        f for f in uow.payloads("late_fee_charged") if f["invoice_id"] == fee_invoice["invoice_id"]
    ]
    assert (charged["days"], charged["amount_fen"]) == (12, 270)  # 45,000 × 0.05 % × 12
    cycle(uow, clock, 2026, 6, 1)  # those days once only
    assert (
        len(
            [
                f
                for f in uow.payloads("late_fee_charged")
                if f["invoice_id"] == fee_invoice["invoice_id"]
            ]
        )
        == 1
    )


def test_late_fee_worked_example_and_waiver(uow, clock):
    admit(uow)
    allocate(uow, [unit(rent=0, fee=45_000)], on=date(2026, 3, 1))
    cycle(uow, clock, 2026, 3, 1)  # property fee 45,000 due 2026-03-31
    [fee_invoice] = invoices(uow, "property_fee")
    cycle(uow, clock, 2026, 5, 30)  # 60 days past due
    charged = [
        f for f in uow.payloads("late_fee_charged") if f["invoice_id"] == fee_invoice["invoice_id"]
    ]
    assert [(f["days"], f["amount_fen"]) for f in charged] == [(60, 1_350)]
    [late] = invoices(uow, "late_fee")
    assert late["total_fen"] == 1_350
    assert late["lines"][0]["tax_rate"] == "0.06"  # the overdue invoice's rate
    result = handlers.waive_late_fee(fee_invoice["invoice_id"], "op-li", "first delay", uow)
    assert result["waived_fen"] == 1_350
    [note] = uow.payloads("credit_note_issued")
    assert note["amount_fen"] == 1_350 and note["invoice_id"] == late["invoice_id"]
    [waived] = uow.payloads("late_fee_waived")
    assert waived["by"] == "op-li" and waived["credited_fen"] == 1_350
    cycle(uow, clock, 2026, 6, 30)  # no further accrual on a waived invoice
    assert len(uow.payloads("late_fee_charged")) == len(charged) + len(
        [
            f
            for f in uow.payloads("late_fee_charged")
            if f["invoice_id"] != fee_invoice["invoice_id"]
        ]
    )
    assert [r["action"] for r in uow.rows(orm.audit)] == ["waive_late_fee"]
    with pytest.raises(Refused, match="already_waived"):  # the domain's rule: once
        handlers.waive_late_fee(fee_invoice["invoice_id"], "op-li", "again", uow)
    assert len(uow.payloads("late_fee_waived")) == 1


def test_a_waiver_drops_a_late_fee_charged_but_not_yet_billed_and_credits_nothing(uow, clock):
    from services.billing.handlers.late_fees import _charge_late_fee, accrue

    admit(uow)
    allocate(uow, [unit(rent=0, fee=45_000)], on=date(2026, 3, 1))
    cycle(uow, clock, 2026, 3, 1)  # property fee 45,000 due 2026-03-31
    [fee_invoice] = invoices(uow, "property_fee")
    clock.set_park_date(2026, 5, 30)
    with uow:  # the cycle's first step only: the fee charged, its invoice not issued yet
        account = uow.billing.account("ent-1", lock=True)
        invoice = uow.billing.invoice(fee_invoice["invoice_id"], lock=True)
        terms = uow.rules.terms(account["park_id"])
        _charge_late_fee(
            uow, account, accrue(uow, invoice, terms, date(2026, 5, 30)), terms, date(2026, 5, 30)
        )
        uow.commit()
    [charged] = uow.rows(orm.late_fees)
    assert (charged["amount_fen"], charged["billed_invoice_id"]) == (1_350, None)
    result = handlers.waive_late_fee(fee_invoice["invoice_id"], "op-li", "first delay", uow)
    assert (result["waived_fen"], result["late_fees"]) == (1_350, 1)
    [waived] = uow.payloads("late_fee_waived")
    assert waived["credited_fen"] == 0  # nothing was billed, so nothing to credit
    assert uow.payloads("credit_note_issued") == []
    [fee_row] = uow.rows(orm.late_fees)
    assert fee_row["waived"] is True and fee_row["billed_invoice_id"] is None
    cycle(uow, clock, 2026, 6, 1)  # the dropped fee is never billed, nothing more accrues
    assert invoices(uow, "late_fee") == []
    assert len(uow.payloads("late_fee_charged")) == 1


def test_a_posting_that_does_not_balance_raises_the_domains_error_and_stores_nothing(uow):
    from services.billing.domain.ledger import UnbalancedPosting
    from services.billing.handlers.common import post

    books = {"enterprise_id": None, "park_id": PARK}
    on = date(2026, 11, 2)
    with uow:
        with pytest.raises(UnbalancedPosting):
            post(uow, "payment t1", [("cash", 100), ("suspense", -99)], account=books, on=on)
        with pytest.raises(TypeError):  # integer fen only, even when it would balance
            post(uow, "payment t2", [("cash", 1.5), ("suspense", -1.5)], account=books, on=on)
        post(
            uow,
            "payment t3",
            [("cash", 5), ("receivables", 0), ("suspense", -5)],
            account=books,
            on=on,
        )
        uow.commit()
    rows = uow.rows(orm.ledger)
    assert sorted((r["memo"], r["account"], r["amount_fen"]) for r in rows) == [
        ("payment t3", "cash", 5),
        ("payment t3", "suspense", -5),
    ]


def test_credit_notes_reduce_what_is_owed_and_a_paid_invoice_becomes_credit(uow, clock):
    rent, fee = two_invoices(uow, clock)
    note = handlers.issue_credit_note(rent["invoice_id"], 50_000, "wrong area", "op-li", uow)
    assert note["amount_fen"] == 50_000 and note["tax_fen"] == 4_128  # 50,000 × 0.09 / 1.09
    [open_rent] = [i for i in handlers.open_invoices("ent-1", uow) if i["kind"] == "rent"]
    assert open_rent["outstanding_fen"] == 400_000
    pay(uow, 45_000, reference=fee["number"])
    handlers.issue_credit_note(fee["invoice_id"], 5_000, "discount", "op-li", uow)
    [credit] = uow.payloads("credit_balance_changed")
    assert credit["change_fen"] == 5_000 and credit["why"] == "credit_note"
    assert (credit["invoice_id"], credit["number"]) == (fee["invoice_id"], fee["number"])
    with pytest.raises(Refused, match="credit_exceeds_invoice"):
        handlers.issue_credit_note(fee["invoice_id"], 40_001, "too much", "op-li", uow)


def test_a_payment_before_its_payers_admission_is_applied_once_when_the_account_opens(uow, clock):
    txn, outcome = pay(uow, 30_000_000, uscc=USCC)  # the bank was faster than onboarding
    assert outcome == "suspense"
    [unmatched] = uow.payloads("payment_unmatched")
    assert unmatched["bank_txn_id"] == txn
    admit(uow)
    admit(uow)  # a redelivered admission applies nothing again
    [matched] = uow.payloads("payment_matched")
    assert (matched["bank_txn_id"], matched["enterprise_id"]) == (txn, "ent-1")
    [credited] = uow.payloads("payment_credited")  # no invoice yet: it is credit
    assert (credited["bank_txn_id"], credited["amount_fen"]) == (txn, 30_000_000)
    [payment] = uow.rows(orm.payments)
    assert (payment["status"], payment["enterprise_id"]) == ("applied", "ent-1")
    accounts = handlers.trial_balance(uow)["accounts"]
    assert accounts.get("suspense", 0) == 0
    assert accounts["customer_credit"] == -30_000_000
    # the down payment is paid from it at once, and the rest stays credit
    allocate(uow, [unit(tenure="purchase", price=96_000_000)])
    [down] = invoices(uow, "purchase")
    [applied] = uow.payloads("credit_applied")
    assert (applied["invoice_id"], applied["amount_fen"]) == (down["invoice_id"], 28_800_000)
    assert applied["credit_balance_fen"] == 1_200_000


# -- buyback ------------------------------------------------------------------------------


def test_buyback_netting_the_issues_worked_example(uow, clock):
    admit(uow)
    clock.set_park_date(2026, 1, 1)
    allocate(uow, [unit(tenure="purchase", price=96_000_000)])
    [down] = invoices(uow, "purchase")
    pay(uow, 28_800_000, reference=down["number"])
    # the first pass since January: instalments 1 and 2 (Feb, Mar), and the property fees
    # of January and February (missed months) and March
    cycle(uow, clock, 2026, 3, 1)
    [instalments] = [i for i in invoices(uow, "purchase") if i["period"] == "2026-03"]
    pay(uow, 22_400_000, reference=instalments["number"])
    *earlier, fee = invoices(uow, "property_fee")
    for paid in earlier:
        pay(uow, 45_000, reference=paid["number"])
    assert fee["period"] == "2026-03" and fee["due_on"] == date(2026, 3, 31)
    assert fee["total_fen"] == 45_000
    clock.set_park_date(2026, 5, 30)  # 60 days past due
    claim_id, _ = _request_settlement(uow, price=96_000_000)
    [computed] = uow.payloads("buyback_settlement_computed")
    # the issue's offsets, and the property fees accrued and not yet invoiced (no pass
    # ran in April or May): April 45,000 + May 1–29 45,000 × 29/31 = 42,097 → 87,097
    assert sorted((o["kind"], o["amount_fen"]) for o in computed["offsets"]) == [
        ("accrued_charge", 87_097),
        ("invoice", 45_000),
        ("late_fee", 1_350),
        ("purchase_balance", 44_800_000),
    ]
    assert computed["net_fen"] == 51_153_650 - 87_097
    result = _settle(uow, claim_id, 51_066_553, date(2026, 5, 30), gross=96_000_000)
    # the final period was invoiced at settlement and netted: the park pays back nothing
    # it is owed
    assert result["payable_fen"] == 51_066_553
    assert handlers.open_invoices("ent-1", uow) == []
    balance = handlers.trial_balance(uow)["accounts"]
    assert balance["buyback_payable"] == -51_066_553
    assert balance["receivables"] == 0
    # what the repurchase left after the purchase balance: the payout and what it netted
    assert balance["units_repurchased"] == 96_000_000 - 44_800_000
    settled_again = _settle(uow, claim_id, 51_066_553, date(2026, 5, 30), gross=96_000_000)
    assert settled_again is None  # claim_settled redelivered
    assert len(uow.payloads("buyback_netted")) == 1
    [final] = [i for i in invoices(uow, "property_fee") if i["issue_key"].endswith(claim_id)]
    assert [line["total_fen"] for line in final["lines"]] == [45_000, 42_097]  # May: 29/31
    # recurring charges stopped from settled_on, and what settlement billed is not billed
    # again: June's pass (catching up April and May) issues nothing
    before = len(invoices(uow))
    cycle(uow, clock, 2026, 6, 1)
    assert len(invoices(uow)) == before


def test_a_negative_net_leaves_the_rest_owed(uow, clock):
    admit(uow)
    allocate(uow, [unit(rent=2_000_000, fee=0)], on=date(2026, 1, 1))
    cycle(uow, clock, 2026, 1, 1)
    clock.set_park_date(2026, 1, 31)  # computed on the day it settles
    claim_id, _ = _request_settlement(uow)
    [computed] = uow.payloads("buyback_settlement_computed")
    # January's rent less the day from the settlement it will be credited: 2,000,000 ×
    # 1/31 = 64,516.13 → 64,516, so 1,935,484 owed
    assert computed["net_fen"] == 500_000 - 1_935_484
    _settle(uow, claim_id, -1_435_484, date(2026, 1, 31))
    owed = sum(i["outstanding_fen"] for i in handlers.open_invoices("ent-1", uow))
    assert owed == 1_435_484  # what the net said the enterprise still owes
    [netted] = uow.payloads("buyback_netted")
    assert (netted["payout_fen"], netted["still_owed_fen"]) == (0, 1_435_484)


def _compute_settlement(uow, claim_id, price=500_000):
    """Buyback asks for the settlement of ``claim_id``: unit A-101 bought back at ``price``
    (the gross). Returns the settlement billing holds for the claim."""
    return handlers.compute_settlement(
        {
            "claim_id": claim_id,
            "enterprise_id": "ent-1",
            "units": [{"unit_id": "A-101", "price_fen": price}],
            "gross_fen": price,
        },
        uow,
    )


def _request_settlement(uow, price=500_000):
    """A new claim's settlement asked for: its id and the figures billing published."""
    claim_id = str(uuid.uuid4())
    _compute_settlement(uow, claim_id, price)
    return claim_id, uow.payloads("buyback_settlement_computed")[-1]


def test_a_settlement_asked_again_is_answered_again_with_the_same_figures_until_settled(uow, clock):
    admit(uow)
    allocate(uow, [unit(rent=2_000_000, fee=0)], on=date(2026, 1, 1))
    cycle(uow, clock, 2026, 1, 1)
    clock.set_park_date(2026, 1, 31)
    claim_id, first = _request_settlement(uow)
    clock.set_park_date(2026, 2, 1)  # the answer was lost; buyback asks again a day later
    _compute_settlement(uow, claim_id)
    answers = [p for p in uow.payloads("buyback_settlement_computed") if p["claim_id"] == claim_id]
    assert answers == [first, first]  # the stored figures, not a new computation
    _settle(uow, claim_id, first["net_fen"], date(2026, 1, 31))
    again = _compute_settlement(uow, claim_id)
    assert again["settled_on"] is not None
    assert len(uow.payloads("buyback_settlement_computed")) == 2  # settled: nothing more


def _settle(uow, claim_id, net, settled_on, gross=500_000):
    """Buyback's ``claim_settled`` for ``claim_id`` (unit A-101): billing's result, None if
    the claim was settled already."""
    return handlers.settle_claim(
        {
            "claim_id": claim_id,
            "enterprise_id": "ent-1",
            "units": ["A-101"],
            "gross_fen": gross,
            "net_fen": net,
            "settled_on": settled_on,
        },
        uow,
    )


def _water(uow, value, day):
    handlers.record_meter_reading(
        {
            "meter_id": "W-1",
            "unit_id": "A-101",
            "kind": "water",
            "reading": value,
            "read_at": datetime(2026, 11, day, 1, tzinfo=UTC),
        },
        uow,
    )


def test_unbilled_meter_consumption_is_an_offset_and_billed_once_at_settlement(uow, clock):
    admit(uow)
    allocate(uow, [unit(fee=0, rent=0)], on=date(2026, 11, 1))
    _water(uow, "100", 2)
    _water(uow, "130", 9)  # 30 m³ at 450 fen = 13,500 fen, not billed yet
    clock.set_park_date(2026, 11, 10)
    claim_id, computed = _request_settlement(uow)
    assert computed["offsets"] == [
        {"kind": "unbilled_consumption", "invoice_id": None, "amount_fen": 13_500}
    ]
    assert computed["net_fen"] == 500_000 - 13_500
    result = _settle(uow, claim_id, 486_500, date(2026, 11, 10))
    assert result["payable_fen"] == 486_500
    [water] = invoices(uow, "utilities")
    assert water["total_fen"] == 13_500 and water["paid_fen"] == 13_500
    cycle(uow, clock, 2026, 12, 1)  # the consumption settled is not billed again
    assert len(invoices(uow, "utilities")) == 1


def test_a_claim_settled_with_another_net_than_computed_is_refused_and_changes_nothing(uow, clock):
    admit(uow)
    allocate(uow, [unit(rent=300_000, fee=0)], on=date(2026, 11, 1))
    cycle(uow, clock, 2026, 11, 1)
    clock.set_park_date(2026, 11, 16)
    claim_id, computed = _request_settlement(uow)
    # November's rent billed in advance, less the 15 days from the settlement it will be
    # credited: 300,000 − 150,000 = 150,000 owed
    assert computed["net_fen"] == 350_000
    with pytest.raises(MalformedMessage, match=r"net_fen_mismatch: .* 500000 .* 350000"):
        _settle(uow, claim_id, 500_000, date(2026, 11, 16))
    with pytest.raises(MalformedMessage, match="gross_fen_mismatch"):
        _settle(uow, claim_id, 350_000, date(2026, 11, 16), gross=600_000)
    assert uow.payloads("buyback_netted") == [] and uow.payloads("credit_note_issued") == []
    # settled on the day it was computed: the payout booked is the net the claim recorded
    assert _settle(uow, claim_id, 350_000, date(2026, 11, 16))["payable_fen"] == 350_000


def test_units_released_before_claim_settled_still_stop_charges_from_settled_on(uow, clock):
    admit(uow)
    allocate(uow, [unit(rent=300_000, fee=0)], on=date(2026, 11, 1))
    cycle(uow, clock, 2026, 11, 1)
    claim_id, computed = _request_settlement(uow)
    clock.set_park_date(2026, 11, 21)
    _release(uow, clock(), claim_id=claim_id)  # onboarding's release arrives first
    [first] = uow.payloads("credit_note_issued")
    assert first["amount_fen"] == 100_000  # 21–30 November
    _settle(uow, claim_id, computed["net_fen"], date(2026, 11, 11))
    notes = uow.payloads("credit_note_issued")
    # settled_on 11 November: the ten days 11–20 are credited too, not ignored
    assert [n["amount_fen"] for n in notes] == [100_000, 100_000]


def test_claim_settled_before_its_settlement_is_retried(uow):
    admit(uow)
    with pytest.raises(NotYetApplicable):
        _settle(uow, str(uuid.uuid4()), None, None, gross=None)


# -- queries ----------------------------------------------------------------------------


def test_statement_aging_and_revenue(uow, clock):
    _rent, fee = two_invoices(uow, clock)
    pay(uow, 45_000, reference=fee["number"])
    statement = handlers.account_statement("ent-1", "2026-11", uow)
    assert statement["charged_fen"] == 495_000 and statement["paid_fen"] == 45_000
    assert statement["outstanding_fen"] == 450_000
    aging = handlers.aging_report(PARK, date(2027, 1, 15), uow)  # 45 days past due
    assert aging["buckets"]["31-60"] == 450_000 and aging["total_fen"] == 450_000
    report = handlers.revenue(PARK, 2026, uow)
    assert report["by_category"]["rent"] == {"2026-11": 450_000 - 37_156}
    with pytest.raises(NotFound):
        handlers.open_invoices("nobody", uow)


def test_the_aging_of_a_past_date_uses_the_balances_of_that_date(uow, clock):
    rent, fee = two_invoices(uow, clock)  # issued 1 November, due 1 December
    clock.set_park_date(2026, 12, 20)
    pay(uow, 45_000, reference=fee["number"])
    handlers.issue_credit_note(rent["invoice_id"], 50_000, "wrong area", "op-li", uow)
    clock.set_park_date(2027, 1, 5)
    pay(uow, 100_000, reference=rent["number"])
    # on 10 December nothing was paid or credited yet: 495,000, 9 days past due
    before = handlers.aging_report(PARK, date(2026, 12, 10), uow)
    assert before["buckets"] == {"0-30": 495_000, "31-60": 0, "61-90": 0, "90+": 0}
    # on 31 December: the fee paid, 50,000 of rent credited; the January payment not yet
    december = handlers.aging_report(PARK, date(2026, 12, 31), uow)
    assert december["total_fen"] == 400_000 and december["buckets"]["0-30"] == 400_000
    # today's balances for today
    now = handlers.aging_report(PARK, date(2027, 1, 15), uow)
    assert now["buckets"]["31-60"] == 300_000 and now["total_fen"] == 300_000


def test_a_service_not_yet_invoiced_is_an_offset_and_is_netted_on_settlement(uow, clock):
    admit(uow)
    allocate(uow, [unit(rent=0, fee=0)], on=date(2026, 11, 1))
    handlers.charge_resolved_ticket(
        {
            "ticket_id": "T-7",
            "enterprise_id": "ent-1",
            "service_code": "ACC-01",
            "firm_id": "acc-1",
            "outcome": "done",
            "fee_fen": 80_000,
            "claim_id": None,
        },
        uow,
    )
    claim_id, _ = _request_settlement(uow, price=1_000_000)
    [computed] = uow.payloads("buyback_settlement_computed")
    assert computed["offsets"] == [
        {"kind": "uninvoiced_charge", "invoice_id": None, "amount_fen": 80_000}
    ]
    assert computed["net_fen"] == 920_000
    result = _settle(uow, claim_id, 920_000, date(2026, 11, 2), gross=1_000_000)
    assert result["payable_fen"] == 920_000
    [netted] = uow.payloads("buyback_netted")
    assert netted["net_fen"] == netted["payout_fen"] == 920_000
    assert netted["still_owed_fen"] == 0
    assert handlers.trial_balance(uow)["accounts"]["firm_payables"] == -72_000


def test_the_cycle_issues_the_month_from_the_parks_billing_day(uow, clock):
    uow.rules.billing_days = {PARK: 5}
    admit(uow)
    allocate(uow, [unit()], on=date(2026, 11, 1))
    assert cycle(uow, clock, 2026, 12, 4).issued == []
    # from the billing day: December, and November that no pass billed
    assert len(cycle(uow, clock, 2026, 12, 5).issued) == 4
    assert sorted(i["period"] for i in invoices(uow)) == ["2026-11"] * 2 + ["2026-12"] * 2


def test_the_printable_statement_of_a_month(uow, clock):
    from services.billing.statement.render import render_statement

    rent, fee = two_invoices(uow, clock)
    pay(uow, 45_000, reference=fee["number"])
    handlers.issue_credit_note(rent["invoice_id"], 50_000, "wrong area", "op-li", uow)
    document = handlers.statement_document("ent-1", "2026-11", uow)
    assert document.opening_balance_fen == 0
    assert [i.number for i in document.invoices] == [rent["number"], fee["number"]]
    assert document.payments[0].applied_to == fee["number"]
    page = render_statement(document)
    assert fee["number"] in page and "恒达精密" in page
    december = handlers.statement_document("ent-1", "2026-12", uow)
    assert december.opening_balance_fen == 495_000 - 50_000 - 45_000


def test_the_statement_is_headed_with_the_parks_name_and_district_from_its_park_file(uow, clock):
    from services.billing.statement.render import render_statement
    from services.billing.unit_of_work import BillingRules

    two_invoices(uow, clock)
    loaded = BillingRules.load(REPO / "deploy" / "parks")
    uow.rules = BillingRules(
        {PARK: uow.rules.terms(PARK)}, billing_days=loaded.billing_days, headers=loaded.headers
    )
    document = handlers.statement_document("ent-1", "2026-11", uow)
    assert document.park_name == "奥克斯智造产业城（一期）"
    assert document.park_header == ("上街区",)
    page = render_statement(document)
    assert "奥克斯智造产业城（一期）" in page and "上街区" in page


# -- hostile operator input ------------------------------------------------------------


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(operator=st.text(max_size=400), reason=st.text(max_size=3000))
@example(operator="op-li", reason="理由" * 1_250)
@example(operator="o" * 300, reason="ok")
def test_any_operator_text_is_taken_or_refused_with_a_code(uow, clock, operator, reason):
    """What an operator types reaches the RPC schemas first: it is either taken (and the
    events it causes are on contract) or refused as ``invalid_request`` — never a
    contract violation deep in a use case."""
    from services.billing import schemas
    from services.billing.exceptions import BillingServiceError

    if not uow.rows(orm.accounts):
        two_invoices(uow, clock)
    [invoice, *_] = invoices(uow)
    calls = [
        (
            schemas.CreditNote,
            handlers.issue_credit_note,
            {
                "invoice_id": invoice["invoice_id"],
                "amount_fen": 1,
                "reason": reason,
                "operator": operator,
            },
        ),
        (
            schemas.WaiveLateFee,
            handlers.waive_late_fee,
            {"invoice_id": invoice["invoice_id"], "operator": operator, "reason": reason},
        ),
    ]
    for schema, use_case, arguments in calls:
        with contextlib.suppress(BillingServiceError):
            use_case(uow=uow, **schemas.load(schema, **arguments))


def test_a_credit_note_or_a_waiver_without_a_reason_is_refused(uow, clock):
    from services.billing import schemas

    rent, _fee = two_invoices(uow, clock)
    for schema, arguments in (
        (schemas.CreditNote, {"amount_fen": 10, "operator": "op"}),
        (schemas.WaiveLateFee, {"operator": "op"}),
    ):
        for blank in ("", "  "):
            with pytest.raises(InvalidRequest, match="reason"):
                schemas.load(schema, invoice_id=rent["invoice_id"], reason=blank, **arguments)


def test_a_waiver_reason_longer_than_the_event_takes_is_refused_not_cut(uow, clock):
    from services.billing import schemas
    from services.billing.exceptions import InvalidRequest

    rent, _fee = two_invoices(uow, clock)
    with pytest.raises(InvalidRequest, match="reason"):
        schemas.load(
            schemas.WaiveLateFee, invoice_id=rent["invoice_id"], operator="op", reason="x" * 501
        )


def test_an_invoiced_unpaid_instalment_of_the_claimed_unit_is_purchase_balance(uow, clock):
    """As the domain's netting (buyback_netting.compute_settlement) classifies it: the
    open part of the claimed units' purchase lines is ``purchase_balance`` on its
    invoice; the rest of what an invoice owes is ``invoice``."""
    admit(uow)
    clock.set_park_date(2026, 1, 1)
    allocate(uow, [unit(tenure="purchase", price=96_000_000, fee=0)])
    [down] = invoices(uow, "purchase")
    pay(uow, 28_800_000, reference=down["number"])
    cycle(uow, clock, 2026, 2, 1)  # instalment 1 invoiced, not paid
    [first] = [i for i in invoices(uow, "purchase") if i["period"] == "2026-02"]
    _request_settlement(uow, price=96_000_000)
    [computed] = uow.payloads("buyback_settlement_computed")
    offsets = [(o["kind"], o["invoice_id"], o["amount_fen"]) for o in computed["offsets"]]
    assert sorted(offsets, key=lambda o: o[1] or "") == [
        ("purchase_balance", None, 56_000_000),
        ("purchase_balance", first["invoice_id"], 11_200_000),
    ]
    assert computed["net_fen"] == 96_000_000 - 67_200_000


def test_a_month_the_cycle_missed_is_billed_on_the_next_pass(uow, clock):
    """A lease from 2026-10-20 seen by billing after October's last pass (allocated at
    23:55 on the 31st, say): the next pass bills October's 12 days too, once."""
    admit(uow)
    allocate(uow, [unit()], on=date(2026, 10, 20))
    first = cycle(uow, clock, 2026, 11, 1)
    assert len(first.issued) == 4
    rents = sorted((i["period"], i["total_fen"]) for i in invoices(uow, "rent"))
    assert rents == [("2026-10", 174_194), ("2026-11", 450_000)]  # 450,000 × 12/31
    assert cycle(uow, clock, 2026, 11, 2).issued == []


def test_a_unit_without_its_money_terms_is_refused_not_retried(uow, clock):
    """The contract lets ``price_fen`` / ``monthly_rent_fen`` be null; a purchased unit
    without a price, or a leased one without a rent, can never be billed: refused (dead
    letter with the reason), not retried, and nothing is held — else every later cycle
    would fail on the account."""
    from shared.messaging.errors import PermanentFailure

    admit(uow)
    no_price = {**unit(tenure="purchase", price=1_000), "price_fen": None}
    with pytest.raises(PermanentFailure, match="price_fen"):
        allocate(uow, [no_price])
    no_rent = {**unit(), "monthly_rent_fen": None}
    with pytest.raises(PermanentFailure, match="monthly_rent_fen"):
        allocate(uow, [no_rent], on=date(2026, 11, 1))
    assert uow.rows(orm.holdings) == []
    assert cycle(uow, clock, 2026, 11, 2).failed == []


def test_a_reading_loaded_in_exponent_form_is_read_as_its_value(uow):
    """The consumer hands the payload over loaded: ``reading`` is a Decimal, which may
    print as ``1E+2``; the meter takes its value, not that text (which it refuses)."""
    from decimal import Decimal

    def read(value, hour):
        return handlers.record_meter_reading(
            {
                "meter_id": "E-9",
                "unit_id": "A-101",
                "kind": "electricity",
                "reading": value,
                "read_at": datetime(2026, 11, 3, hour, tzinfo=UTC),
            },
            uow,
        ).value

    assert read(Decimal("1E+2"), 1) == "baseline"
    assert read(Decimal("1.1E+2"), 2) == "recorded"
    assert [m["last_reading"] for m in uow.rows(orm.meters)] == ["110"]


def test_a_buyback_below_the_cancelled_balance_leaves_the_rest_owed_on_an_invoice(uow, clock):
    admit(uow)
    clock.set_park_date(2026, 1, 1)
    allocate(uow, [unit(tenure="purchase", price=1_000_000, fee=0)])  # 300,000 down
    claim_id, _ = _request_settlement(uow)
    result = _settle(uow, claim_id, None, date(2026, 1, 1))
    # 700,000 of instalments cancelled, 500,000 paid back: 200,000 stay owed, and the
    # down payment of 300,000 is still unpaid
    assert result["payable_fen"] == 0 and result["still_owed_fen"] == 500_000
    [shortfall] = [i for i in invoices(uow, "purchase") if i["total_fen"] == 200_000]
    assert handlers.outstanding(shortfall) == 200_000


def test_a_release_before_its_allocation_is_retried_and_reserved_units_are_ignored(uow):
    admit(uow)
    release = {
        "units": ["A-101"],
        "reason": "lease_ended",
        "application_id": None,
        "enterprise_id": "ent-1",
    }
    with pytest.raises(NotYetApplicable):
        handlers.release_units(release, uow.clock(), uow)
    # units only reserved (the application was rejected): nothing was ever billed
    assert (
        handlers.release_units({**release, "reason": "application_rejected"}, uow.clock(), uow)
        == []
    )
    assert handlers.release_units({**release, "enterprise_id": None}, uow.clock(), uow) == []


# -- credit notes never credit more than a line or the invoice (issue 10) ------------------


def release_a101_on(uow, clock, day):
    clock.set_park_date(2026, 11, day)
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


def test_a_release_after_an_operator_credit_credits_only_what_is_left_on_the_line(uow, clock):
    rent, _fee = two_invoices(uow, clock)
    handlers.issue_credit_note(rent["invoice_id"], 400_000, "wrong area", "op-li", uow)
    release_a101_on(uow, clock, 16)
    credited = sum(
        n["amount_fen"]
        for n in uow.payloads("credit_note_issued")
        if n["invoice_id"] == rent["invoice_id"]
    )
    assert credited == 450_000
    assert uow.payloads("credit_balance_changed") == []
    accounts = handlers.trial_balance(uow)["accounts"]
    assert accounts.get("revenue:rent", 0) == 0 and accounts.get("vat_payable", 0) <= 0


def test_operator_credits_split_against_what_is_left_on_each_line(uow, clock):
    admit(uow)
    allocate(uow, [unit(), unit("A-102", rent=45_000, fee=4_500)], on=date(2026, 11, 1))
    cycle(uow, clock, 2026, 11, 1)
    [rent] = [i for i in invoices(uow, "rent") if len(i["lines"]) == 2]
    big, small = sorted(range(2), key=lambda i: -rent["lines"][i]["total_fen"])
    for index in (big, small):
        handlers.issue_credit_note(
            rent["invoice_id"], rent["lines"][index]["total_fen"], "x", "op", uow
        )
    first, second = uow.payloads("credit_note_issued")
    assert [line["line_index"] for line in second["lines"]] == [small]
    assert first["tax_fen"] + second["tax_fen"] == rent["tax_fen"]


def test_the_credit_that_exhausts_a_line_carries_its_remaining_tax(uow, clock):
    admit(uow)
    allocate(uow, [unit(fee=1_000)], on=date(2026, 11, 1))
    cycle(uow, clock, 2026, 11, 1)
    [fee] = invoices(uow, "property_fee")
    handlers.issue_credit_note(fee["invoice_id"], 500, "x", "op", uow)
    handlers.issue_credit_note(fee["invoice_id"], 500, "x", "op", uow)
    taxes = [n["tax_fen"] for n in uow.payloads("credit_note_issued")]
    # 1,000 at 6 % carries 57 of VAT; 500 takes 28 (28.3), the second 500 the 29 left
    assert fee["tax_fen"] == 57 and taxes == [28, 29]
    assert handlers.trial_balance(uow)["accounts"]["revenue:property_fee"] == 0


def _resolved_service(uow, fee=100_000, ticket="T-1"):
    handlers.charge_resolved_ticket(
        {
            "ticket_id": ticket,
            "request_id": "REQ-1",
            "enterprise_id": "ent-1",
            "service_code": "LEGAL-03",
            "firm_id": "law-1",
            "outcome": "done",
            "fee_fen": fee,
            "claim_id": None,
        },
        uow,
    )


def test_crediting_a_service_line_leaves_no_debit_revenue(uow, clock):
    # fee 100,000 at 10 % commission: the firm is owed 90,000; VAT 5,660 on the whole fee;
    # the park's revenue is its commission less the VAT, 10,000 − 5,660 = 4,340
    admit(uow)
    _resolved_service(uow)
    cycle(uow, clock, 2026, 11, 30)
    [service] = invoices(uow, "service")
    accounts = handlers.trial_balance(uow)["accounts"]
    assert (accounts["firm_payables"], accounts["revenue:service"]) == (-90_000, -4_340)
    handlers.issue_credit_note(service["invoice_id"], 100_000, "x", "op", uow)
    accounts = handlers.trial_balance(uow)["accounts"]
    # the whole sale reversed: revenue, VAT and the firm's payable alike, nothing in debit
    assert accounts["revenue:service"] == 0
    assert accounts["firm_payables"] == 0
    assert accounts["vat_payable"] == 0
    [recorded] = uow.payloads("firm_payable_recorded")
    assert (recorded["request_id"], recorded["payable_fen"]) == ("REQ-1", 90_000)
    [adjusted] = uow.payloads("firm_payable_adjusted")
    assert (adjusted["ticket_id"], adjusted["firm_id"], adjusted["change_fen"]) == (
        "T-1",
        "law-1",
        -90_000,
    )
    assert adjusted["number"] == service["number"]


def test_a_partial_credit_on_a_service_line_reverses_the_firms_payable_in_proportion(uow, clock):
    admit(uow)
    _resolved_service(uow, fee=100_001)
    cycle(uow, clock, 2026, 11, 30)
    [service] = invoices(uow, "service")
    # the firm's payable: 100,001 − commission 10,000 (10,000.1 rounded) = 90,001
    handlers.issue_credit_note(service["invoice_id"], 33_333, "x", "op", uow)
    handlers.issue_credit_note(service["invoice_id"], 66_668, "y", "op", uow)
    first, second = uow.payloads("firm_payable_adjusted")
    # 90,001 × 33,333 / 100,001 = 30,000.03 → 30,000; the last credit takes what is left
    assert (first["change_fen"], second["change_fen"]) == (-30_000, -60_001)
    accounts = handlers.trial_balance(uow)["accounts"]
    assert accounts["revenue:service"] == 0 and accounts["firm_payables"] == 0
