"""Buyback netting: every unpaid amount is offset against the gross; net may be negative."""

from __future__ import annotations

from datetime import date, timedelta

from services.billing.domain.events import event_payload
from services.billing.domain.invoices import InvoiceStatus
from services.billing.domain.ledger import BUYBACK_PAYABLE, UNITS_REPURCHASED, balances
from services.billing.domain.payments import Payment
from services.billing.domain.proration import Month
from services.billing.tests.unit.builders import AT, TERMS, USCC, Ids, account, bill, purchased

GROSS = 96_000_000


def pay_all(acct, txn):
    owed = acct.receivable_fen()
    acct.apply_payment(
        Payment(bank_txn_id=txn, payer_uscc=USCC, amount_fen=owed, received_at=AT), AT
    )


def worked_example():
    """Issue 10's example: one 300 m² unit at 320,000 fen/m² allocated in January; the
    down payment and two of six instalments paid; one property-fee invoice of 45,000 fen
    unpaid 60 days past due; nothing else owed."""
    acct, ids = account(), Ids()
    unit = purchased(held_from=date(2026, 1, 1))
    acct.allocate_units([unit], TERMS)
    fee_only = [i for i in acct.instalments if i.sequence > 2]
    for inst in fee_only:  # instalments 3-6 not invoiced yet: hold them out of the cycles
        inst.bill_month = "2099-01"
    bill(acct, ids, Month(2026, 1), issued_on=date(2026, 1, 1))
    bill(acct, ids, Month(2026, 2), issued_on=date(2026, 2, 1))
    bill(acct, ids, Month(2026, 3), issued_on=date(2026, 3, 1))
    pay_all(acct, "b-paid")
    unit.held_from = date(2026, 4, 1)  # only one property-fee invoice left to owe
    fee = bill(acct, ids, Month(2026, 4), issued_on=date(2026, 4, 1))
    assert (fee.total_fen, fee.due_on) == (45_000, date(2026, 5, 1))
    return acct, ids, fee


def test_the_issue_worked_example_nets_to_51153650_fen():
    acct, ids, fee = worked_example()
    as_of = fee.due_on + timedelta(days=60)
    # "nothing else owed": the property fees of May and June are invoiced and paid
    for month in (Month(2026, 5), Month(2026, 6)):
        paid = bill(acct, ids, month, issued_on=month.first_day)
        acct.apply_payment(
            Payment(
                bank_txn_id=f"b-{month}",
                payer_uscc=USCC,
                amount_fen=paid.total_fen,
                received_at=AT,
                reference=paid.number,
            ),
            AT,
        )
    settlement = acct.compute_buyback_settlement("claim-1", ["A-101"], GROSS, as_of, TERMS, AT)
    assert [(o.kind, o.invoice_id, o.amount_fen) for o in settlement.offsets] == [
        ("purchase_balance", None, 44_800_000),
        ("invoice", fee.invoice_id, 45_000),
        ("late_fee", fee.invoice_id, 1_350),
    ]
    assert settlement.net_fen == 51_153_650
    payload = event_payload(acct.events[-1])
    assert payload["net_fen"] == 51_153_650 and payload["gross_fen"] == GROSS
    assert payload["offsets"][0] == {
        "kind": "purchase_balance",
        "invoice_id": None,
        "amount_fen": 44_800_000,
    }


def test_a_negative_net_means_the_enterprise_still_owes_the_difference():
    acct, _ids, fee = worked_example()
    settlement = acct.compute_buyback_settlement("c", ["A-101"], 44_800_000, fee.due_on, TERMS, AT)
    assert settlement.net_fen == -45_000


def test_settling_cancels_the_balance_nets_the_debts_and_pays_out_the_rest():
    acct, ids, fee = worked_example()
    settled_on = fee.due_on + timedelta(days=60)
    acct.charge_late_fees(settled_on, TERMS, AT)  # the service charges accrued fees first
    late = acct.draft_invoice(ids(), list(acct.pending_charges), TERMS)
    acct.issue_invoice(late.invoice_id, ids.number(settled_on.year), settled_on, TERMS, AT)
    settlement = acct.settle_buyback("claim-1", ["A-101"], GROSS, settled_on, AT, ids)
    assert settlement.net_fen == 51_153_650
    assert all(i.cancelled for i in acct.instalments if i.sequence > 2)
    assert fee.status is InvoiceStatus.PAID and late.status is InvoiceStatus.PAID
    ledger = balances(acct.postings)
    assert ledger[UNITS_REPURCHASED] == GROSS - 44_800_000
    assert ledger[BUYBACK_PAYABLE] == -51_153_650
    assert acct.receivable_fen() == 0
    assert acct.settle_buyback("claim-1", ["A-101"], GROSS, settled_on, AT, ids) is settlement


def test_a_month_billed_in_advance_is_credited_from_settled_on():
    acct, ids, _fee = worked_example()
    june = bill(acct, ids, Month(2026, 6), issued_on=date(2026, 6, 1))
    [june_fee] = [line for line in june.lines if line.source == "property_fee:A-101:2026-06"]
    assert june_fee.total_fen == 45_000
    acct.settle_buyback("claim-1", ["A-101"], GROSS, date(2026, 6, 11), AT, ids)
    [note] = [n for n in acct.credit_notes if n.invoice_id == june.invoice_id]
    assert note.amount_fen == 30_000  # 20 of June's 30 days after settled_on


def test_recurring_charges_stop_from_settled_on_prorated():
    acct, _ids, _fee = worked_example()
    acct.settle_buyback("claim-1", ["A-101"], GROSS, date(2026, 6, 11), AT, Ids())
    charges = acct.charges_for(Month(2026, 6), TERMS)
    [june_fee] = [c for c in charges if c.source == "property_fee:A-101:2026-06"]
    assert (june_fee.total_fen, june_fee.proration) == (15_000, "10/30")
    july = acct.charges_for(Month(2026, 7), TERMS)
    assert [c.source for c in july if c.source.endswith("2026-07")] == []


def test_an_invoiced_unpaid_instalment_is_credit_noted_and_offset():
    acct, ids = account(), Ids()
    acct.allocate_units([purchased(held_from=date(2026, 1, 1))], TERMS)
    bill(acct, ids, Month(2026, 1))
    pay_all(acct, "b1")
    february = bill(acct, ids, Month(2026, 2))  # instalment 1 + property fee, unpaid
    settlement = acct.settle_buyback("c", ["A-101"], GROSS, date(2026, 2, 15), AT, ids)
    assert february.status is InvoiceStatus.PAID  # credited (instalment) then netted (fee)
    assert settlement.offsets[0].amount_fen == 67_200_000
    # February's property fee was billed in advance: 14 of 28 days after settled_on credited
    assert settlement.net_fen == GROSS - 67_200_000 - 22_500
    reasons = sorted(note.reason for note in acct.credit_notes)
    assert reasons == [
        "buyback c: purchase balance cancelled",
        "unit A-101 not held from 2026-02-15",
    ]


def test_rent_and_property_fees_accrued_and_not_invoiced_are_offsets_too():
    acct, _ids, fee = worked_example()
    as_of = fee.due_on + timedelta(days=60)  # 30 June: May and June not invoiced
    settlement = acct.compute_buyback_settlement("claim-1", ["A-101"], GROSS, as_of, TERMS, AT)
    # May 45,000 + 1–29 June 45,000 × 29/30 = 43,500 → 88,500
    assert ("accrued_charge", None, 88_500) in [
        (o.kind, o.invoice_id, o.amount_fen) for o in settlement.offsets
    ]
    assert settlement.net_fen == 51_153_650 - 88_500


def test_a_net_below_zero_is_no_payout_and_the_rest_stays_receivable():
    acct, ids, fee = worked_example()
    acct.settle_buyback("c", ["A-101"], 44_820_000, fee.due_on, AT, ids)
    assert balances(acct.postings).get(BUYBACK_PAYABLE, 0) == 0
    assert acct.receivable_fen() == 25_000


def test_a_gross_below_the_unpaid_purchase_balance_leaves_the_rest_owed_not_refused():
    acct, ids, fee = worked_example()
    settlement = acct.settle_buyback("c", ["A-101"], 1_000, fee.due_on, AT, ids)
    # 44,800,000 cancelled, 1,000 paid back: 44,799,000 stays owed as a purchase charge,
    # invoiced like any, and nothing is paid out
    [shortfall] = [c for c in acct.pending_charges if c.source == "buyback_shortfall:c"]
    assert shortfall.total_fen == 44_799_000
    assert balances(acct.postings).get(BUYBACK_PAYABLE, 0) == 0
    assert settlement.net_fen < 0
    assert all(inst.cancelled for inst in acct.instalments if inst.invoice_id is None)


def test_charges_not_invoiced_yet_are_offsets_too():
    from services.billing.domain.charges import service_fee

    acct, _ids, fee = worked_example()
    acct.record_service_fee(
        service_fee("t-9", "firm-1", "legal", 20_000, TERMS.service_commission_rate), AT
    )
    settlement = acct.compute_buyback_settlement("c", ["A-101"], GROSS, fee.due_on, TERMS, AT)
    assert ("uninvoiced_charge", None, 20_000) in [
        (o.kind, o.invoice_id, o.amount_fen) for o in settlement.offsets
    ]
    assert settlement.net_fen == GROSS - 44_800_000 - 45_000 - 20_000
