"""Every event the account records is a valid payload of its ``billing.events`` schema
(``shared/contract/billing.py``): the service publishes them as they are."""

from __future__ import annotations

from datetime import date, timedelta

from services.billing.domain.charges import service_fee
from services.billing.domain.events import event_payload
from services.billing.domain.payments import (
    Payment,
    match_suspense_item,
    park_in_suspense,
    payment_matched,
)
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
from shared.contract import REGISTRY

CLAIM = "9b2e7c1e-5a55-4a8e-9d8c-0e6f1c2a3b4c"


def every_event():
    acct, ids = account(), Ids()
    acct.allocate_units(
        [purchased(held_from=date(2026, 1, 1)), leased(held_from=date(2026, 1, 1))], TERMS
    )
    acct.record_service_fee(
        service_fee("t-1", "firm-1", "legal", 33_335, TERMS.service_commission_rate), AT
    )
    january = bill(acct, ids, Month(2026, 1))
    acct.mark_overdue(january.due_on + timedelta(days=1), AT)
    acct.charge_late_fees(january.due_on + timedelta(days=20), TERMS, AT)
    bill(acct, ids, Month(2026, 2))
    acct.issue_credit_note(ids(), january.invoice_id, 1_000, "goodwill", AT, by="ops")
    acct.apply_payment(
        Payment(bank_txn_id="b1", payer_uscc=USCC, amount_fen=10**9, received_at=AT), AT
    )
    bill(acct, ids, Month(2026, 3))
    item, _posting, unmatched = park_in_suspense(
        Payment(bank_txn_id="b2", payer_uscc="X", amount_fen=5, received_at=AT),
        "unknown_payer",
        None,
        AT,
    )
    acct.apply_payment(
        match_suspense_item(item, acct.enterprise_id, "ops", AT), AT, from_suspense=True
    )
    matched = payment_matched(item, None)
    acct.waive_late_fees(january.invoice_id, "ops", "goodwill", AT, ids)
    acct.compute_buyback_settlement(CLAIM, ["A-101"], 96_000_000, date(2026, 4, 1), TERMS, AT)
    acct.settle_buyback(CLAIM, ["A-101"], 96_000_000, date(2026, 4, 1), AT, ids)
    return [*acct.events, unmatched, matched]


def test_every_recorded_event_validates_against_its_contract_schema():
    events = every_event()
    seen = set()
    for event in events:
        schema = REGISTRY.spec("billing", event.event_type, 1).schema()
        payload = event_payload(event)
        assert schema.validate(payload) == {}, (event.event_type, payload)
        seen.add(event.event_type)
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
    }
