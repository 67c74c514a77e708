"""The account aggregate: allocation, release, what a cycle bills, paid services, and the
events it records (JSON-ready payloads)."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

from services.billing.domain import events as events_module
from services.billing.domain.charges import service_fee
from services.billing.domain.events import DomainEvent, event_payload
from services.billing.domain.ledger import FIRM_PAYABLES, balances
from services.billing.domain.payments import Payment, park_in_suspense
from services.billing.domain.proration import Month
from services.billing.tests.unit.builders import (
    AT,
    TERMS,
    USCC,
    Ids,
    account,
    bill,
    leased,
    purchased,
)


def test_allocating_a_purchased_unit_bills_the_down_payment_at_once():
    acct, ids = account(), Ids()
    down = acct.allocate_units([purchased(held_from=date(2026, 11, 16))], TERMS)
    assert [(c.source, c.total_fen) for c in down] == [("purchase:A-101:0", 28_800_000)]
    draft = acct.draft_invoice(ids(), down, TERMS)  # at once, on the allocation
    acct.issue_invoice(draft.invoice_id, ids.number(), date(2026, 11, 16), TERMS, AT)
    assert acct.instalments[0].invoice_id == draft.invoice_id
    # the month's cycle bills the property fee, not the down payment again
    invoice = bill(acct, ids, Month(2026, 11), issued_on=date(2026, 11, 16))
    by_category = {line.category.value: line.total_fen for line in invoice.lines}
    assert by_category == {"property_fee": 22_500}


def test_a_redelivered_allocation_changes_nothing():
    acct = account()
    acct.allocate_units([purchased()], TERMS)
    acct.allocate_units([purchased()], TERMS)
    assert len(acct.units) == 1 and len(acct.instalments) == 7


def test_an_earlier_release_stands_against_a_later_one():
    acct = account()
    acct.allocate_units([leased(held_from=date(2026, 1, 1))], TERMS)
    acct.release_units(["B-201"], date(2026, 3, 10), AT, Ids())
    acct.release_units(["B-201"], date(2026, 4, 1), AT, Ids())
    assert acct.units[0].released_on == date(2026, 3, 10)


def test_each_instalment_is_billed_in_its_month_and_only_once():
    acct, ids = account(), Ids()
    acct.allocate_units([purchased(held_from=date(2026, 1, 5))], TERMS)
    bill(acct, ids, Month(2026, 1))
    assert bill(acct, ids, Month(2026, 1)) is None
    february = bill(acct, ids, Month(2026, 2))
    purchase = [line for line in february.lines if line.category == "purchase"]
    assert [p.total_fen for p in purchase] == [11_200_000]
    assert acct.instalments[1].invoice_id == february.invoice_id


def test_a_paid_service_owes_the_firm_now_and_bills_the_enterprise_next_cycle():
    acct, ids = account(), Ids()
    fee = service_fee("t-1", "firm-1", "legal", 100_000, Decimal("0.10"))
    acct.record_service_fee(fee, AT)
    acct.record_service_fee(fee, AT)  # redelivered ticket_resolved
    assert acct.firm_payables_fen == {"firm-1": 90_000}
    invoice = bill(acct, ids, Month(2026, 11))
    assert [(line.category.value, line.total_fen, line.tax_fen) for line in invoice.lines] == [
        ("service", 100_000, 5_660)
    ]
    # posted with the sale: the firm's 90,000; the park's commission 10,000 less the VAT
    ledger = balances(acct.postings)
    assert (ledger[FIRM_PAYABLES], ledger["revenue:service"]) == (-90_000, -4_340)
    assert acct.pending_charges == []
    acct.record_service_fee(fee, AT)  # even after it was invoiced
    assert acct.firm_payables_fen == {"firm-1": 90_000}


def test_every_event_payload_is_json_with_ids_and_no_envelope_fields():
    acct, ids = account(), Ids()
    acct.allocate_units([leased(held_from=date(2026, 10, 1))], TERMS)
    bill(acct, ids, Month(2026, 10))
    acct.mark_overdue(date(2026, 12, 1), AT)
    acct.charge_late_fees(date(2026, 12, 1), TERMS, AT)
    acct.apply_payment(
        Payment(bank_txn_id="b1", payer_uscc=USCC, amount_fen=600_000, received_at=AT), AT
    )
    _item, _posting, unmatched = park_in_suspense(
        Payment(bank_txn_id="b2", payer_uscc="X", amount_fen=1, received_at=AT),
        "unknown_payer",
        "aux",
        AT,
    )
    for event in [*acct.events, unmatched]:
        payload = json.loads(json.dumps(event_payload(event)))
        assert "occurred_at" not in payload and "park_id" not in payload
        if "invoice_id" in payload:
            assert payload["number"].startswith("AUX-2026-") and payload.get("enterprise_id", "x")
        if event.event_type in ("payment_applied", "payment_unmatched", "payment_credited"):
            assert payload["bank_txn_id"] in ("b1", "b2")
    issued = event_payload(acct.events[0])
    assert issued["due_on"] == "2026-10-31" and issued["lines"][0]["tax_rate"] == "0.09"
    assert event_payload(unmatched)["why"] == "unknown_payer"


def test_event_types_are_unique_past_tense_names():
    classes = [
        c
        for c in vars(events_module).values()
        if isinstance(c, type) and issubclass(c, DomainEvent) and c is not DomainEvent
    ]
    types = [c.event_type for c in classes]
    assert len(types) == len(set(types))
    assert {
        "invoice_issued",
        "payment_applied",
        "invoice_paid",
        "invoice_overdue",
        "late_fee_charged",
        "credit_note_issued",
        "payment_unmatched",
        "buyback_settlement_computed",
    } <= set(types)


def test_a_unit_allocated_after_its_months_cycle_is_billed_on_the_next_cycle():
    acct, ids = account(), Ids()
    acct.allocate_units([leased(held_from=date(2026, 11, 16))], TERMS)
    december = bill(acct, ids, Month(2026, 12))
    assert sorted((line.source, line.total_fen) for line in december.lines) == [
        ("property_fee:B-201:2026-11", 22_500),
        ("property_fee:B-201:2026-12", 45_000),
        ("rent:B-201:2026-11", 225_000),
        ("rent:B-201:2026-12", 450_000),
    ]


def test_releasing_a_unit_billed_in_advance_credits_the_days_after_release():
    acct, ids = account(), Ids()
    acct.allocate_units([leased(held_from=date(2026, 11, 1))], TERMS)
    november = bill(acct, ids, Month(2026, 11))
    acct.release_units(["B-201"], date(2026, 11, 21), AT, ids)
    # 20 of 30 days held: rent 450,000 → 300,000, property fee 45,000 → 30,000
    [note] = acct.credit_notes
    assert [(line.category.value, line.total_fen) for line in note.lines] == [
        ("rent", 150_000),
        ("property_fee", 15_000),
    ]
    assert november.outstanding_fen == 330_000
    acct.release_units(["B-201"], date(2026, 11, 21), AT, ids)  # redelivered
    assert len(acct.credit_notes) == 1


def test_a_release_after_an_operators_credit_credits_only_what_is_left_on_the_line():
    # the same rule as the service's (domain release_credit_fen): rent 450,000 of
    # November, an operator credits 400,000, the unit is released on 11 November (10 of
    # 30 days held, worth 150,000): min(450,000 − 150,000, 50,000 left) = 50,000
    acct, ids = account(), Ids()
    acct.allocate_units([leased(held_from=date(2026, 11, 1))], TERMS)
    invoice = bill(acct, ids, Month(2026, 11))
    [rent_index] = [i for i, line in enumerate(invoice.lines) if line.category == "rent"]
    acct.issue_credit_note(
        ids(), invoice.invoice_id, 400_000, "fix", AT, by="op", line_amounts={rent_index: 400_000}
    )
    acct.release_units(["B-201"], date(2026, 11, 11), AT, ids)
    release = acct.credit_notes[-1]
    assert [
        (line.line_index, line.total_fen) for line in release.lines if line.line_index == rent_index
    ] == [(rent_index, 50_000)]
    # released again earlier: only the days between, less what the first release took
    acct.release_units(["B-201"], date(2026, 11, 6), AT, ids)
    assert invoice.credited_per_line[rent_index] == 450_000


def test_a_cycle_catches_up_missed_months_only_as_far_back_as_the_service_does():
    # one window for the account and the service's cycle (charges.CATCH_UP_MONTHS = 12):
    # a lease held since January 2025 first billed for November 2026 bills
    # November 2025 … November 2026, 13 months of rent
    acct = account()
    acct.allocate_units([leased(held_from=date(2025, 1, 1))], TERMS)
    rents = [c.source for c in acct.charges_for(Month(2026, 11), TERMS) if c.category == "rent"]
    assert rents[0] == "rent:B-201:2025-11" and len(rents) == 13
