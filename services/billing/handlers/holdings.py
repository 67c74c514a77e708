"""Accounts and held units (``onboarding.events``): an account per admitted enterprise;
units allocated (purchase schedules, the down payment invoiced at once) and released
(recurring charges stop; days already billed are credited)."""

from __future__ import annotations

from datetime import date, datetime

from services.billing.domain.charges import (
    property_fee_charge,
    purchase_schedule,
    rent_charge,
)
from services.billing.domain.errors import NotYetApplicable
from services.billing.domain.invoices import RELEASE_REASON, release_credit_fen
from services.billing.domain.proration import Month
from services.billing.domain.vat import Category
from services.billing.handlers.common import (
    _account_or_wait,
    _date,
    _held_unit,
    _today,
    issue_invoice,
    issue_key,
    line_of,
    park_date,
)
from services.billing.handlers.credits import (
    _credit_lines,
    _credit_note,
    _credited_on_line,
    _left_on_line,
)
from services.billing.handlers.payments import apply_suspended_payments
from services.billing.repository import Row
from shared.messaging.errors import MalformedMessage

# -- onboarding: accounts and holdings ---------------------------------------------------


def admit_enterprise(payload, park_id: str | None, uow) -> bool:
    """Open the enterprise's account (once; a redelivery changes nothing) and apply the
    payments its USCC made while unknown (in suspense), exactly once."""
    with uow:
        uow.billing.lock_payer(payload["uscc"])
        added = uow.billing.add_account(
            enterprise_id=payload["enterprise_id"],
            park_id=park_id,
            uscc=payload["uscc"],
            name=payload["enterprise_name"],
            credit_fen=0,
            admitted_at=uow.clock(),
        )
        if added:
            apply_suspended_payments(uow, uow.billing.account(payload["enterprise_id"], lock=True))
        uow.commit()
    return added


def allocate_units(payload, occurred_at: datetime, uow) -> Row | None:
    """Hold the units from the allocation date (a lease's ``lease_start``, else the park
    date the event occurred); a purchase's schedule is stored and its down payment
    invoiced at once. Rent and property fees are billed by the cycle from that date."""
    with uow:
        account = _account_or_wait(uow, payload["enterprise_id"])
        terms = uow.rules.terms(account["park_id"])
        start = (
            _date(payload["lease_start"]) if payload.get("lease_start") else park_date(occurred_at)
        )
        contract_id = payload["contract_id"]
        for unit in payload["units"]:
            needed = "price_fen" if unit["tenure"] == "purchase" else "monthly_rent_fen"
            if unit.get(needed) is None:
                raise MalformedMessage(
                    f"unit {unit['unit_id']}: a {unit['tenure']} needs {needed}, which is null"
                )
        down_lines, down_ids = [], []
        for unit in payload["units"]:
            if uow.billing.holding_exists(account["enterprise_id"], unit["unit_id"], contract_id):
                continue
            uow.billing.add_holding(
                enterprise_id=account["enterprise_id"],
                unit_id=unit["unit_id"],
                contract_id=contract_id,
                tenure=unit["tenure"],
                area_m2=unit["area_m2"],
                price_fen=unit["price_fen"],
                monthly_rent_fen=unit["monthly_rent_fen"],
                monthly_property_fee_fen=unit["monthly_property_fee_fen"],
                start_on=start,
                end_on=None,
            )
            if unit["tenure"] != "purchase":
                continue
            schedule = purchase_schedule(unit["unit_id"], unit["price_fen"], start, terms)
            uow.billing.add_instalments(
                [
                    {
                        "enterprise_id": account["enterprise_id"],
                        "contract_id": contract_id,
                        "unit_id": item.unit_id,
                        "sequence": item.sequence,
                        "amount_fen": item.amount_fen,
                        "bill_month": item.bill_month,
                        "invoice_id": None,
                        "cancelled": False,
                    }
                    for item in schedule
                ]
            )
            down_lines.append(line_of(schedule[0].charge(), terms.vat_rates[Category.PURCHASE]))
            down_ids.append(unit["unit_id"])
        invoice = None
        if down_lines:
            invoice = issue_invoice(
                uow,
                account,
                "purchase",
                str(Month.of(start)),
                down_lines,
                _today(uow),
                reference=f"down:{contract_id}",
            )
            if invoice is not None:
                rows = [
                    row["id"]
                    for row in uow.billing.instalments(account["enterprise_id"])
                    if row["contract_id"] == contract_id
                    and row["sequence"] == 0
                    and row["unit_id"] in down_ids
                ]
                uow.billing.mark_instalments(rows, invoice_id=invoice["invoice_id"])
        uow.commit()
    return invoice


RELEASES_NEVER_BILLED = ("application_rejected", "application_suspended", "application_withdrawn")


def release_units(payload, occurred_at: datetime, uow) -> list[Row]:
    """Stop the units' recurring charges from the park date the release occurred (a
    month already billed is credited for the days after it)."""
    enterprise_id = payload.get("enterprise_id")
    if enterprise_id is None or payload["reason"] in RELEASES_NEVER_BILLED:
        return []  # reserved, never allocated: nothing was billed
    with uow:
        account = _account_or_wait(uow, enterprise_id)
        held = [
            row
            for row in uow.billing.holdings(enterprise_id)
            if row["unit_id"] in set(payload["units"])
        ]
        if not held:
            raise NotYetApplicable(f"units {payload['units']} not allocated to {enterprise_id} yet")
        ended = uow.billing.end_holdings(enterprise_id, payload["units"], park_date(occurred_at))
        _credit_released_days(uow, account, ended, _today(uow))
        uow.commit()
    return ended


def release_reason(unit_id: str, end_on: date) -> str:
    return f"{RELEASE_REASON.format(unit_id=unit_id)}{end_on}"


def _credit_released_days(uow, account: Row, ended: list[Row], on: date) -> None:
    """For each month already invoiced past a holding's end, a credit note of what was
    billed for the days after it (rent, property fee; re-prorated by the domain's rule),
    less what an earlier release of the unit credited on the line already (a release
    moved earlier — e.g. a buyback's ``settled_on`` before the release date — credits
    only the days between), and never more than is left on the line."""
    for row in ended:
        unit = _held_unit(row)
        month = Month.of(row["end_on"])
        while True:
            found = False
            for kind in ("rent", "property_fee"):
                key = issue_key(account["enterprise_id"], str(month), kind, row["contract_id"])
                invoice = uow.billing.invoice_by_key(key, lock=True)
                if invoice is None:
                    continue
                found = True
                index = next(
                    (
                        i
                        for i, line in enumerate(invoice["lines"])
                        if line["source"].startswith(f"{kind}:{unit.unit_id}:")
                    ),
                    None,
                )
                if index is None:
                    continue
                billed = invoice["lines"][index]
                charge = (
                    rent_charge(unit, month) if kind == "rent" else property_fee_charge(unit, month)
                )
                kept = charge.total_fen if charge is not None else 0
                released = _credited_on_line(
                    uow, invoice, index, RELEASE_REASON.format(unit_id=unit.unit_id)
                )
                difference = release_credit_fen(
                    billed["total_fen"], kept, released, _left_on_line(uow, invoice, index)
                )
                if difference > 0:
                    _credit_note(
                        uow,
                        account,
                        invoice,
                        _credit_lines(uow, invoice, difference, {index: difference}),
                        release_reason(unit.unit_id, row["end_on"]),
                        None,
                        on,
                    )
            if not found:
                break
            month = month.plus(1)
