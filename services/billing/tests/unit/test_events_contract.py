"""Every event billing's use cases publish is a valid payload of its ``billing.events``
schema (``shared/contract/billing.py``): one run through every kind of event, each
payload read back from the outbox and validated here (the unit of work checks each one
when it is staged, too)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

from services.billing import handlers
from services.billing.domain import events as events_module
from services.billing.domain.events import DomainEvent
from services.billing.tests.unit.fake_uow import Clock, FakeUnitOfWork
from services.billing.tests.unit.test_handlers import (
    USCC,
    admit,
    allocate,
    cycle,
    invoices,
    pay,
    unit,
)
from shared.contract import REGISTRY


def every_event(uow, clock) -> list[dict]:
    admit(uow)
    clock.set_park_date(2026, 1, 1)
    allocate(uow, [unit(tenure="purchase", price=96_000_000)])  # the down payment at once
    handlers.charge_resolved_ticket(
        {
            "ticket_id": "T-1",
            "enterprise_id": "ent-1",
            "service_code": "LEGAL-03",
            "firm_id": "law-1",
            "outcome": "done",
            "fee_fen": 33_335,
            "claim_id": None,
        },
        uow,
    )
    cycle(uow, clock, 2026, 2, 1)
    [down] = [i for i in invoices(uow, "purchase") if i["period"] == "2026-01"]
    txn, _outcome = pay(uow, 28_800_000, uscc="91110000000000000X")  # an unknown payer
    handlers.match_payment(txn, "ent-1", "op-li", "the parent company paid", uow)
    cycle(uow, clock, 2026, 4, 1)  # February's invoices overdue: late fees charged
    [fee] = [i for i in invoices(uow, "property_fee") if i["period"] == "2026-02"]
    handlers.issue_credit_note(fee["invoice_id"], 1_000, "goodwill", "op-li", uow)
    handlers.waive_late_fee(fee["invoice_id"], "op-li", "first delay", uow)
    pay(uow, 10**9)  # pays everything open, the rest is credit
    cycle(uow, clock, 2026, 5, 1)  # paid at once from the credit balance
    claim_id = str(uuid.uuid4())
    computed = handlers.compute_settlement(
        {
            "claim_id": claim_id,
            "enterprise_id": "ent-1",
            "units": [{"unit_id": "A-101", "price_fen": 96_000_000}],
            "gross_fen": 96_000_000,
        },
        uow,
    )
    handlers.settle_claim(
        {
            "claim_id": claim_id,
            "enterprise_id": "ent-1",
            "units": ["A-101"],
            "gross_fen": 96_000_000,
            "net_fen": computed["net_fen"],
            "settled_on": date(2026, 5, 1),
        },
        uow,
    )
    assert down["total_fen"] == 28_800_000
    return uow.events()


def every_event_on_a_fresh_book(tmp_path) -> list[dict]:
    """``every_event`` on a new unit of work (a throw-away SQLite file under ``tmp_path``,
    the clock at 2026-01-01), its database disposed of however the run ends."""
    clock = Clock(datetime(2026, 1, 1, 2, 0, tzinfo=UTC))
    uow = FakeUnitOfWork(tmp_path / "billing.db", clock)
    try:
        return every_event(uow, clock)
    finally:
        uow.database.dispose()


def test_every_published_event_validates_against_its_contract_schema(tmp_path):
    events = every_event_on_a_fresh_book(tmp_path)
    seen = set()
    for event in events:
        schema = REGISTRY.spec("billing", event["type"], 1).schema()
        assert schema.validate(event["payload"]) == {}, (event["type"], event["payload"])
        seen.add(event["type"])
    assert seen >= {
        "invoice_issued",
        "payment_applied",
        "payment_credited",
        "credit_applied",
        "invoice_paid",
        "invoice_overdue",
        "late_fee_charged",
        "late_fee_waived",
        "credit_note_issued",
        "payment_unmatched",
        "payment_matched",
        "firm_payable_recorded",
        "buyback_settlement_computed",
        "buyback_netted",
    }, seen


def test_no_event_payload_carries_envelope_fields(tmp_path):
    events = every_event_on_a_fresh_book(tmp_path)
    for event in events:
        payload = event["payload"]
        assert "occurred_at" not in payload and "park_id" not in payload, event
        if "invoice_id" in payload and event["type"] != "buyback_settlement_computed":
            assert payload["number"].startswith("AUX-2026-") and payload["enterprise_id"]
        if event["type"].startswith("payment_"):
            assert payload["bank_txn_id"]
    assert USCC in {e["payload"].get("uscc") for e in events}


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
