"""Meter readings (``meters.events/reading_recorded``): the meter's latest reading moves;
the cycle bills consumption since the billed reading."""

from __future__ import annotations

from decimal import Decimal

from services.billing.domain.charges import (
    MeterState,
    ReadingOutcome,
    record_reading,
)
from services.billing.domain.errors import Refused as DomainRefused
from services.billing.handlers.common import _instant
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
            uow.emit(
                "reading_anomaly",
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
