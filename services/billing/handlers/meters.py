"""Meter readings (``meters.events/reading_recorded``): the meter's latest reading moves;
the cycle bills consumption since the billed reading. An operator rebaselines a replaced
meter."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from services.billing.domain import events as ev
from services.billing.domain.charges import (
    MeterState,
    ReadingOutcome,
    parse_reading,
    rebaseline,
    record_reading,
    utility_charge,
)
from services.billing.domain.errors import Refused as DomainRefused
from services.billing.domain.proration import Month
from services.billing.exceptions import InvalidRequest, NotFound, Refused
from services.billing.handlers.common import (
    _instant,
    issue_invoice,
    line_of,
    meter_state,
    park_date,
    publish,
    tariff_of,
)
from shared.clock import as_utc
from shared.messaging.errors import MalformedMessage

# -- meters ---------------------------------------------------------------------------


def record_meter_reading(payload, uow) -> ReadingOutcome:
    """Move the meter's latest reading (the cycle bills latest − billed); a decrease or a
    conflicting reading is flagged with ``reading_anomaly``, never billed. Lean: one
    read and at most one write of the meter's row."""
    read_at = _instant(payload["read_at"])
    value = payload["reading"]  # a Decimal once loaded: written back in plain notation
    reading = format(value, "f") if isinstance(value, Decimal) else str(value)
    with uow:
        row = uow.billing.meter(payload["meter_id"])
        if row is None:
            state = MeterState(
                meter_id=payload["meter_id"], unit_id=payload["unit_id"], kind=payload["kind"]
            )
        else:
            state = MeterState(
                meter_id=row["meter_id"],
                unit_id=row["unit_id"],
                kind=row["kind"],
                last_reading=row["last_reading"],
                last_read_at=as_utc(row["last_read_at"]),
                billed_reading=row["billed_reading"],
            )
        previous = (state.last_reading, state.last_read_at)
        try:
            outcome = record_reading(state, reading, read_at)
        except DomainRefused as refused:
            raise MalformedMessage(f"{refused.reason}: {refused.message}") from None
        if outcome is ReadingOutcome.BASELINE:
            uow.billing.add_meter(
                meter_id=state.meter_id,
                unit_id=state.unit_id,
                kind=str(state.kind),
                last_reading=state.last_reading,
                last_read_at=read_at,
                billed_reading=state.billed_reading,
            )
        elif outcome is ReadingOutcome.RECORDED:
            uow.billing.save_meter(
                state.meter_id, last_reading=state.last_reading, last_read_at=read_at
            )
        elif outcome.flagged:
            publish(
                uow,
                ev.ReadingAnomaly,
                {
                    "meter_id": state.meter_id,
                    "unit_id": state.unit_id,
                    "kind": str(state.kind),
                    "previous_reading": previous[0],
                    "reading": reading,
                    "previous_read_at": previous[1],
                    "read_at": read_at,
                    "why": outcome.value,
                },
            )
        uow.commit()
    return outcome


def rebaseline_meter(
    meter_id: str, reading: str, operator: str, reason: str, uow, read_at: datetime | None = None
) -> dict:
    """An operator rebaselines a meter (a replaced meter starting again from 0, audited):
    what the old meter read and was not billed yet is invoiced now to the unit's holder
    (nothing is lost), then the meter bills from ``reading`` on — a new meter's low
    reading is not a "decrease" for ever, and readings older than ``read_at`` (now, by
    default) are out of order. ``meter_rebaselined`` reports it."""
    with uow:
        row = uow.billing.meter(meter_id)
        if row is None:
            raise NotFound(f"no meter {meter_id}")
        at = as_utc(read_at) if read_at is not None else uow.clock()
        state = meter_state(row)
        if state.last_read_at is not None and at < as_utc(state.last_read_at):
            raise Refused(
                f"meter {meter_id} last read at {as_utc(state.last_read_at).isoformat()}: "
                "a rebaseline is not older than its last reading",
                "rebaseline_before_last_reading",
            )
        try:
            parse_reading(reading)
        except DomainRefused as refused:
            raise InvalidRequest(f"reading: {refused.message}") from None
        previous = state.last_reading
        billed = _bill_before_rebaseline(uow, state, at)
        rebaseline(state, reading, at)
        uow.billing.save_meter(
            meter_id,
            last_reading=state.last_reading,
            billed_reading=state.billed_reading,
            last_read_at=at,
        )
        uow.billing.audit(
            action="rebaseline_meter", subject=meter_id, operator=operator, reason=reason, at=at
        )
        publish(
            uow,
            ev.MeterRebaselined,
            {
                "meter_id": meter_id,
                "unit_id": state.unit_id,
                "kind": str(state.kind),
                "previous_reading": previous,
                "reading": state.last_reading,
                "read_at": at,
                "billed_fen": billed,
                "by": operator,
                "reason": reason,
            },
        )
        uow.commit()
    return {"meter_id": meter_id, "reading": state.last_reading, "billed_fen": billed}


def _bill_before_rebaseline(uow, state, at: datetime) -> int:
    """Invoice the old meter's consumption not billed yet to the enterprise holding its
    unit (0 if none was consumed or nobody holds the unit)."""
    holder = uow.billing.holder_of(state.unit_id)
    if holder is None:
        return 0
    account = uow.billing.account(holder, lock=True)
    terms = uow.rules.terms(account["park_id"])
    on = park_date(at)
    charge = utility_charge(state, tariff_of(terms, state.kind), Month.of(on))
    if charge is None:
        return 0
    invoice = issue_invoice(
        uow,
        account,
        "utilities",
        str(Month.of(on)),
        [line_of(charge, terms.vat_rates[state.kind])],
        on,
        f"rebaseline:{state.meter_id}:{at.isoformat()}",
    )
    return invoice["total_fen"] if invoice is not None else 0
