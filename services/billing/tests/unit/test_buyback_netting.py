"""Buyback netting (:func:`~services.billing.domain.buyback_netting.compute_settlement`):
every unpaid amount is offset against the gross; the net may be negative. Settling a
claim (cancel, credit, bill the final period, net, post) is the handlers' use case:
``test_handlers.py`` (``settle_claim``)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

from services.billing.domain.buyback_netting import compute_settlement
from services.billing.domain.charges import (
    property_fee_charge,
    purchase_schedule,
    recurring_charges_until,
    rent_charge,
    service_fee,
)
from services.billing.domain.proration import Month
from services.billing.tests.unit.builders import TERMS, Ids, issued, purchased

GROSS = 96_000_000


def worked_example():
    """Issue 10's example: one 300 m² unit at 320,000 fen/m² allocated in January; the
    down payment and two of six instalments invoiced and paid; one property-fee invoice
    of 45,000 fen unpaid, due 2026-05-01; nothing else owed."""
    ids = Ids()
    instalments = purchase_schedule("A-101", GROSS, date(2026, 1, 1), TERMS)
    for paid in instalments[:3]:
        paid.invoice_id = "paid"  # its invoice is paid: not open, nothing to offset
    unit = purchased(held_from=date(2026, 4, 1))
    fee = issued(ids, [property_fee_charge(unit, Month(2026, 4))], date(2026, 4, 1))
    assert (fee.total_fen, fee.due_on) == (45_000, date(2026, 5, 1))
    return ids, instalments, fee


def settle(instalments, invoices, as_of, gross=GROSS, **more):
    return compute_settlement(
        claim_id="claim-1",
        enterprise_id="ent-1",
        gross_fen=gross,
        unit_ids=["A-101"],
        instalments=instalments,
        invoices=invoices,
        as_of=as_of,
        terms=TERMS,
        **more,
    )


def test_the_issue_worked_example_nets_to_51153650_fen():
    _ids, instalments, fee = worked_example()
    settlement = settle(instalments, [fee], fee.due_on + timedelta(days=60))
    assert [(o.kind, o.invoice_id, o.amount_fen) for o in settlement.offsets] == [
        ("purchase_balance", None, 44_800_000),
        ("invoice", fee.invoice_id, 45_000),
        ("late_fee", fee.invoice_id, 1_350),
    ]
    assert settlement.net_fen == 51_153_650
    assert settlement.offsets_fen == GROSS - 51_153_650


def test_a_negative_net_means_the_enterprise_still_owes_the_difference():
    _ids, instalments, fee = worked_example()
    assert settle(instalments, [fee], fee.due_on, gross=44_800_000).net_fen == -45_000


def test_cancelled_instalments_and_paid_invoices_are_no_offsets():
    _ids, instalments, fee = worked_example()
    instalments[3].cancelled = True
    fee.paid_fen += 45_000
    settlement = settle(instalments, [fee], fee.due_on + timedelta(days=60))
    assert [(o.kind, o.amount_fen) for o in settlement.offsets] == [
        ("purchase_balance", 33_600_000)
    ]


def test_a_month_billed_in_advance_is_owed_only_up_to_the_settlement():
    ids, instalments, fee = worked_example()
    unit = purchased(held_from=date(2026, 4, 1))
    june = issued(ids, [property_fee_charge(unit, Month(2026, 6))], date(2026, 6, 1))
    fee.paid_fen += 45_000
    settlement = settle(instalments, [fee, june], date(2026, 6, 11), claimed_units=[unit])
    # 10 of June's 30 days held before the settlement: 15,000 owed, 30,000 to be credited
    assert ("invoice", june.invoice_id, 15_000) in [
        (o.kind, o.invoice_id, o.amount_fen) for o in settlement.offsets
    ]
    assert settlement.net_fen == GROSS - 44_800_000 - 15_000


def test_recurring_charges_stop_from_the_release_prorated():
    unit = replace(purchased(held_from=date(2026, 4, 1)), released_on=date(2026, 6, 11))
    june = property_fee_charge(unit, Month(2026, 6))
    assert (june.total_fen, june.proration) == (15_000, "10/30")
    assert property_fee_charge(unit, Month(2026, 7)) is None
    leased_unit = replace(unit, tenure="lease", price_fen=None, monthly_rent_fen=450_000)
    assert rent_charge(leased_unit, Month(2026, 6)).total_fen == 150_000
    assert rent_charge(leased_unit, Month(2026, 7)) is None


def test_an_invoiced_unpaid_instalment_of_the_claimed_unit_is_purchase_balance():
    ids = Ids()
    instalments = purchase_schedule("A-101", GROSS, date(2026, 1, 1), TERMS)
    instalments[0].invoice_id = "paid"
    unit = purchased(held_from=date(2026, 1, 1))
    february = issued(
        ids,
        [instalments[1].charge(), property_fee_charge(unit, Month(2026, 2))],
        date(2026, 2, 1),
    )
    instalments[1].invoice_id = february.invoice_id
    settlement = settle(instalments, [february], date(2026, 2, 15), claimed_units=[unit])
    assert [(o.kind, o.invoice_id, o.amount_fen) for o in settlement.offsets] == [
        ("purchase_balance", None, 56_000_000),
        ("purchase_balance", february.invoice_id, 11_200_000),
        # February's property fee billed in advance: 14 of 28 days held before the 15th
        ("invoice", february.invoice_id, 22_500),
    ]
    assert settlement.net_fen == GROSS - 67_200_000 - 22_500


def test_rent_and_property_fees_accrued_and_not_invoiced_are_offsets_too():
    _ids, instalments, fee = worked_example()
    as_of = fee.due_on + timedelta(days=60)  # 30 June: May and June not invoiced
    invoiced = {"property_fee:A-101:2026-04"}
    accrued = [
        charge
        for charge in recurring_charges_until(purchased(held_from=date(2026, 4, 1)), as_of)
        if charge.source not in invoiced
    ]
    settlement = settle(instalments, [fee], as_of, accrued_charges=accrued)
    # May 45,000 + 1–29 June 45,000 × 29/30 = 43,500 → 88,500
    assert ("accrued_charge", None, 88_500) in [
        (o.kind, o.invoice_id, o.amount_fen) for o in settlement.offsets
    ]
    assert settlement.net_fen == 51_153_650 - 88_500


def test_charges_not_invoiced_yet_are_offsets_too():
    _ids, instalments, fee = worked_example()
    pending = [service_fee("t-9", "firm-1", "legal", 20_000, TERMS.service_commission_rate).charge]
    settlement = settle(instalments, [fee], fee.due_on, pending_charges=pending)
    assert ("uninvoiced_charge", None, 20_000) in [
        (o.kind, o.invoice_id, o.amount_fen) for o in settlement.offsets
    ]
    assert settlement.net_fen == GROSS - 44_800_000 - 45_000 - 20_000
