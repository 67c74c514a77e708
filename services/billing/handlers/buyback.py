"""Buyback netting: ``settlement_requested`` (offsets and net) and ``claim_settled``
(the repurchase posted, recurring charges stopped)."""

from __future__ import annotations

from datetime import date

from services.billing.domain import events as ev
from services.billing.domain.buyback_netting import compute_settlement as domain_settlement
from services.billing.domain.charges import (
    CATCH_UP_MONTHS,
    Charge,
    Instalment,
    recurring_charges_until,
    utility_charge,
)
from services.billing.domain.errors import NotYetApplicable
from services.billing.domain.ledger import BUYBACK_PAYABLE, RECEIVABLES, UNITS_REPURCHASED
from services.billing.domain.payments import allocate
from services.billing.domain.proration import Month
from services.billing.domain.vat import Category
from services.billing.handlers.common import (
    _account_or_wait,
    _announce_paid,
    _date,
    _held_unit,
    _service_line,
    _today,
    invoice_view,
    issue_invoice,
    line_of,
    meter_state,
    outstanding,
    post,
    publish,
    tariff_of,
)
from services.billing.handlers.credits import _credited
from services.billing.handlers.holdings import _credit_released_days
from services.billing.handlers.late_fees import _charge_late_fee, _late_fee_lines, accrue
from services.billing.repository import Row
from shared.messaging.errors import MalformedMessage

# -- buyback netting ------------------------------------------------------------------


def _instalment(row: Row) -> Instalment:
    return Instalment(
        unit_id=row["unit_id"],
        sequence=row["sequence"],
        amount_fen=row["amount_fen"],
        bill_month=row["bill_month"],
        invoice_id=row["invoice_id"],
        cancelled=row["cancelled"],
    )


def _pending_charges(uow, eid: str) -> list[Charge]:
    """What is recorded and not yet invoiced: paid services, and late fees charged by a
    cycle (each on its overdue invoice)."""
    services = [
        Charge(
            category=Category.SERVICE,
            description=row["description"],
            quantity="1",
            unit_price_fen=row["amount_fen"],
            total_fen=row["amount_fen"],
            source=row["source_key"],
            payable_fen=row["payable_fen"],
        )
        for row in uow.billing.open_charges(eid)
    ]
    fees = [
        Charge(
            category=Category.LATE_FEE,
            description=f"late fee {row['late_fee_id']}",
            quantity="1",
            unit_price_fen=row["amount_fen"],
            total_fen=row["amount_fen"],
            source=f"late_fee:{row['late_fee_id']}",
            ref_invoice_id=row["invoice_id"],
        )
        for row in uow.billing.late_fees(enterprise_id=eid, unbilled=True)
    ]
    return services + fees


def accrued_charges(uow, eid: str, unit_ids: set[str], end: date) -> list[Charge]:
    """The units' rent and property fees accrued before ``end`` and not on any invoice
    yet (within the cycle's catch-up window), by the domain's rule."""
    invoiced = {line.get("source") for row in uow.billing.invoices(eid) for line in row["lines"]}
    since = Month.of(end).plus(-CATCH_UP_MONTHS)
    return [
        charge
        for row in uow.billing.holdings(eid)
        if row["unit_id"] in unit_ids
        for charge in recurring_charges_until(_held_unit(row), end)
        if charge.source not in invoiced and Month.parse(charge.source.rsplit(":", 1)[1]) >= since
    ]


def unbilled_consumption(uow, unit_ids: set[str], terms, month: Month):
    """The units' meters' consumption since last billed, at the park's tariffs:
    ``[(meter_id, charge, the billed reading once it is billed)]``."""
    found = []
    for row in uow.billing.meters_of_units(unit_ids):
        state = meter_state(row)
        charge = utility_charge(state, tariff_of(terms, state.kind), month)
        if charge is not None:
            found.append((state.meter_id, charge, state.billed_reading))
    return found


def compute_offsets(uow, account: Row, unit_ids: set[str], on: date) -> list[dict]:
    """Every unpaid amount of the enterprise, by the domain's netting
    (:func:`.domain.buyback_netting.compute_settlement`, where the kinds are explained):
    the claimed units' purchase balance, every open invoice, late fees charged or accrued
    and not invoiced, charges not invoiced, the claimed units' rent and property fees
    accrued before ``on`` and their meters' unbilled consumption."""
    terms = uow.rules.terms(account["park_id"])
    eid = account["enterprise_id"]
    settlement = domain_settlement(
        claim_id="",
        enterprise_id=eid,
        gross_fen=0,
        unit_ids=unit_ids,
        instalments=[_instalment(row) for row in uow.billing.instalments(eid)],
        invoices=[_credited(uow, row) for row in uow.billing.open_invoices(eid)],
        pending_charges=_pending_charges(uow, eid),
        accrued_charges=accrued_charges(uow, eid, unit_ids, on),
        claimed_units=[
            _held_unit(row) for row in uow.billing.holdings(eid) if row["unit_id"] in unit_ids
        ],
        unbilled_consumption=[
            charge
            for _meter, charge, _billed in unbilled_consumption(uow, unit_ids, terms, Month.of(on))
        ],
        as_of=on,
        terms=terms,
    )
    return [
        {"kind": o.kind, "invoice_id": o.invoice_id, "amount_fen": o.amount_fen}
        for o in settlement.offsets
    ]


def _claimed_units_or_wait(uow, account: Row, unit_ids: set[str], claim_id: str) -> None:
    """Billing must know every claimed unit as held by the enterprise before it nets:
    a unit whose ``units_allocated`` is still in flight (another queue, DESIGN §5) would
    net none of its unpaid purchase price, and the park would pay back what it was never
    paid. So that waits (the retry ladder); the answer is computed once, and kept."""
    held = {row["unit_id"] for row in uow.billing.holdings(account["enterprise_id"])}
    missing = sorted(unit_ids - held)
    if missing:
        raise NotYetApplicable(
            f"claim {claim_id}: billing does not know enterprise {account['enterprise_id']} "
            f"as the holder of {', '.join(missing)} yet (their units_allocated may be in "
            "flight); the settlement is computed once it does"
        )


def compute_settlement(payload, uow) -> dict:
    """``settlement_requested`` → ``buyback_settlement_computed``: gross less every unpaid
    amount; computed once per claim. A later request of the same claim (the buyback
    service asks again when no answer came in time: the answer may have been lost) is
    answered again with the same stored figures, until the claim is settled."""
    with uow:
        account = _account_or_wait(uow, payload["enterprise_id"])
        existing = uow.billing.settlement(payload["claim_id"])
        if existing is not None:
            if existing["settled_on"] is None:
                _publish_settlement(uow, account, existing)
            uow.commit()
            return existing
        units = {unit["unit_id"] for unit in payload["units"]}
        _claimed_units_or_wait(uow, account, units, payload["claim_id"])
        offsets = compute_offsets(uow, account, units, _today(uow))
        gross = payload["gross_fen"]
        net = gross - sum(o["amount_fen"] for o in offsets)
        settlement = {
            "claim_id": payload["claim_id"],
            "enterprise_id": account["enterprise_id"],
            "gross_fen": gross,
            "net_fen": net,
            "offsets": offsets,
            "settled_on": None,
        }
        uow.billing.add_settlement(**settlement)
        _publish_settlement(uow, account, settlement)
        uow.commit()
    return settlement


def _publish_settlement(uow, account: Row, settlement: Row) -> None:
    publish(
        uow,
        ev.BuybackSettlementComputed,
        {
            "claim_id": settlement["claim_id"],
            "enterprise_id": account["enterprise_id"],
            "gross_fen": settlement["gross_fen"],
            "offsets": settlement["offsets"],
            "net_fen": settlement["net_fen"],
        },
        park_id=account["park_id"],
    )


def _reconcile(payload, settlement: Row) -> None:
    """``claim_settled`` must settle what billing computed: a ``gross_fen`` or
    ``net_fen`` other than the computed one is refused (dead-lettered with the reason),
    never silently accepted."""
    for field in ("gross_fen", "net_fen"):
        given = payload.get(field)
        if given is not None and given != settlement[field]:
            raise MalformedMessage(
                f"{field}_mismatch: claim_settled {field} {given} is not the {settlement[field]} "
                f"billing computed for claim {payload['claim_id']} (buyback_settlement_computed)"
            )


def _bill_final_period(
    uow, account: Row, unit_ids: set[str], settled_on: date, on: date, claim_id: str
) -> None:
    """The claimed units' final period, up to ``settled_on``: rent and property fees
    accrued and not invoiced yet (prorated by day), and their meters' consumption since
    last billed — invoiced now, so they are netted like any invoice (the cycle skips a
    source already invoiced; the meters' billed readings move)."""
    eid = account["enterprise_id"]
    terms = uow.rules.terms(account["park_id"])
    period, reference = str(Month.of(on)), f"buyback:{claim_id}"
    accrued = accrued_charges(uow, eid, unit_ids, settled_on)
    for kind, category in (("rent", Category.RENT), ("property_fee", Category.PROPERTY_FEE)):
        lines = [
            line_of(charge, terms.vat_rates[category])
            for charge in accrued
            if charge.category is category
        ]
        issue_invoice(uow, account, kind, period, lines, on, reference)
    consumption = unbilled_consumption(uow, unit_ids, terms, Month.of(settled_on))
    lines = [line_of(charge, terms.vat_rates[charge.category]) for _m, charge, _b in consumption]
    if issue_invoice(uow, account, "utilities", period, lines, on, reference) is not None:
        for meter_id, _charge, billed in consumption:
            uow.billing.save_meter(meter_id, billed_reading=billed)


def settle_claim(payload, uow) -> dict | None:
    """``claim_settled`` (its gross and net reconciled with the computed settlement): cancel
    the claimed units' instalments not yet invoiced, stop their recurring charges from
    ``settled_on`` (credit for days already billed; an earlier release stands), bill their
    final period up to ``settled_on`` and the late fees accrued until then, net the
    repurchase price against every open invoice (oldest first) and owe the enterprise
    the rest (``buyback_payable``). A negative net leaves the invoices it could not cover
    open: the enterprise still owes them."""
    unit_ids = [u if isinstance(u, str) else u["unit_id"] for u in payload["units"]]
    with uow:
        account = _account_or_wait(uow, payload["enterprise_id"])
        settlement = uow.billing.settlement(payload["claim_id"])
        if settlement is None:
            raise NotYetApplicable(f"claim {payload['claim_id']} has no settlement computed yet")
        if settlement["settled_on"] is not None:
            uow.commit()
            return None
        _reconcile(payload, settlement)
        settled_on = _date(payload["settled_on"]) if payload.get("settled_on") else _today(uow)
        on = _today(uow)
        eid = account["enterprise_id"]
        terms = uow.rules.terms(account["park_id"])
        cancelled = [
            row
            for row in uow.billing.instalments(eid)
            if row["unit_id"] in set(unit_ids)
            and not row["cancelled"]
            and row["invoice_id"] is None
        ]
        uow.billing.mark_instalments([row["id"] for row in cancelled], cancelled=True)
        ended = uow.billing.end_holdings(eid, unit_ids, settled_on)
        _credit_released_days(uow, account, ended, on)
        _bill_final_period(uow, account, set(unit_ids), settled_on, on, payload["claim_id"])
        for invoice in uow.billing.open_invoices(eid):
            # undated, as the netting computed it: the payout booked is the one computed
            accrual = accrue(uow, invoice, terms, settled_on, dated=False)
            if accrual is not None:
                _charge_late_fee(uow, account, accrual, terms, settled_on)
        lines, ids = _late_fee_lines(uow, account)
        fee_invoice = issue_invoice(
            uow, account, "late_fee", str(Month.of(on)), lines, on, f"buyback:{payload['claim_id']}"
        )
        if fee_invoice is not None:
            for fee_id in ids:
                uow.billing.update_late_fee(fee_id, billed_invoice_id=fee_invoice["invoice_id"])
        gross = payload.get("gross_fen") or settlement["gross_fen"]
        charges = uow.billing.open_charges(eid)
        service = issue_invoice(
            uow,
            account,
            "service",
            str(Month.of(on)),
            [_service_line(c, terms) for c in charges],
            on,
            f"buyback:{payload['claim_id']}",
        )
        if service is not None:
            uow.billing.bill_charges([c["charge_id"] for c in charges], service["invoice_id"])
        balance = sum(row["amount_fen"] for row in cancelled)
        if balance > gross:
            # the price paid back does not cover the purchase balance cancelled: what it
            # does not cover stays owed, on an invoice of its own
            shortfall = Charge(
                category=Category.PURCHASE,
                description=f"purchase balance not covered by buyback {payload['claim_id']}",
                quantity="1",
                unit_price_fen=balance - gross,
                total_fen=balance - gross,
                source=f"buyback_shortfall:{payload['claim_id']}",
            )
            issue_invoice(
                uow,
                account,
                "purchase",
                str(Month.of(on)),
                [line_of(shortfall, terms.vat_rates[Category.PURCHASE])],
                on,
                f"buyback:{payload['claim_id']}",
            )
            balance = gross
        available = gross - balance
        # the open invoices are netted oldest due first: the domain's allocation rule
        rows = {row["invoice_id"]: row for row in uow.billing.open_invoices(eid)}
        plan, remaining = allocate(available, [invoice_view(row) for row in rows.values()], "")
        for view, take in plan:
            invoice = rows[view.invoice_id]
            invoice["paid_fen"] += take
            uow.billing.update_invoice(invoice["invoice_id"], paid_fen=invoice["paid_fen"])
            uow.billing.record_settlement(invoice, on, take, "buyback", payload["claim_id"])
            if outstanding(invoice) == 0:
                _announce_paid(uow, account, invoice, on)
        post(
            uow,
            f"buyback {payload['claim_id']}",
            [
                (UNITS_REPURCHASED, available),
                (RECEIVABLES, -(available - remaining)),
                (BUYBACK_PAYABLE, -remaining),
            ],
            account=account,
            on=on,
        )
        still_owed = sum(outstanding(i) for i in uow.billing.open_invoices(eid))
        publish(
            uow,
            ev.BuybackNetted,
            {
                "claim_id": payload["claim_id"],
                "enterprise_id": eid,
                "gross_fen": gross,
                "net_fen": remaining - still_owed,
                "payout_fen": remaining,
                "still_owed_fen": still_owed,
                "settled_on": settled_on,
            },
            park_id=account["park_id"],
        )
        uow.billing.update_settlement(payload["claim_id"], settled_on=settled_on)
        uow.commit()
    return {
        "claim_id": payload["claim_id"],
        "payable_fen": remaining,
        "still_owed_fen": still_owed,
        "settled_on": settled_on,
    }
