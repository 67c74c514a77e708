"""What an enterprise owes, as :class:`Charge` values the billing cycle puts on invoices.

Every charge is a tax-inclusive total in fen with an idempotency ``source`` key (the same
key is never invoiced twice — the cycle checks it). Each rounding is explicit:

- **Purchase** (:func:`purchase_schedule`): the down payment is
  ``round_half_up(price × down_payment_ratio)``, invoiced at once on allocation; the
  balance ``price − down payment`` is split by :func:`shared.money.split` into
  ``instalment_count`` instalments (they sum exactly to the balance, larger first), the
  *n*-th billed in the month ``n × instalment_interval_months`` after the allocation
  month. Example: 96,000,000 at 30 % → 28,800,000 down, 6 × 11,200,000.
- **Rent** (:func:`rent_charge`): leased units, monthly in advance (the cycle for month
  *M* bills *M*), prorated by day (:mod:`.proration`).
- **Property fee** (:func:`property_fee_charge`): every held unit, at the unit's own
  monthly fee from ``units_allocated`` (``monthly_property_fee_fen``: the park's per-m²
  price × the unit's area, set by the park's policy in onboarding), prorated
  ``round_half_up(monthly_fee × days_held / days_in_month)`` — one rounding per line.
  300 m² × 150 fen = 45,000 fen for a full month; 15 of 30 days = 22,500.
- **Utilities** (:class:`MeterState`, :func:`record_reading`, :func:`utility_charge`):
  readings are decimal strings. The meter keeps its latest accepted reading and the
  reading up to which it was last billed; a cycle bills ``round_half_up((latest − billed)
  × tariff)`` and moves ``billed`` to ``latest`` — one rounding per meter per cycle, not
  per 15-minute reading. Decisions:

  * the first reading of a meter is its baseline (nothing billed);
  * a **duplicate** (same ``read_at``, same value) changes nothing;
  * a **conflict** (same ``read_at``, another value) is flagged, the first value kept;
  * an **out-of-order** reading (``read_at`` older than the latest) is ignored: the
    consumption it would show is already inside the later reading's delta — no charge
    and no double count;
  * a **decrease** (newer ``read_at``, lower value) is flagged as an anomaly the service
    reports, never billed negative, and the baseline is *kept*: a misread that comes
    back to normal then costs nothing twice (a replaced meter needs an operator's
    :func:`rebaseline`).

- **Paid services** (:func:`service_fee`): the fee from ``ticket_resolved`` is charged in
  full (tax-inclusive, ``service`` category); the park's commission is
  ``round_half_up(fee × commission_rate)`` and the firm's payable is ``fee − commission``
  (so the two always sum to the fee). 10 % of 33,335 → 3,334 commission, 30,001 payable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from services.billing.domain.errors import Refused
from services.billing.domain.proration import Month, days_held
from services.billing.domain.terms import BillingTerms
from services.billing.domain.vat import Category
from shared.money import apply_rate, require_fen, round_fen, split

MAX_READING = Decimal(10) ** 12
MAX_READING_PLACES = 6
READING_PATTERN = re.compile(r"[0-9]{1,20}(\.[0-9]{1,20})?")


class Tenure(StrEnum):
    PURCHASE = "purchase"
    LEASE = "lease"


@dataclass(frozen=True, kw_only=True)
class Charge:
    """One line to invoice: ``total_fen`` is tax-inclusive.

    ``quantity`` (decimal string) × ``unit_price_fen`` × ``proration`` (``"15/30"``: days
    held / days in the month, None for a whole quantity) is what ``total_fen`` was
    rounded from. ``source`` is the idempotency key; ``ref_invoice_id`` names the overdue
    invoice a late fee is for; ``payable_fen`` is a paid service's share owed to its firm
    (0 on any other charge).
    """

    category: Category
    description: str
    quantity: str
    unit_price_fen: int
    total_fen: int
    source: str
    proration: str | None = None
    ref_invoice_id: str | None = None
    payable_fen: int = 0


@dataclass(kw_only=True)
class HeldUnit:
    """A unit an enterprise holds: from ``held_from`` (inclusive) to ``released_on``
    (exclusive; None while held). ``price_fen`` for a purchase, ``monthly_rent_fen`` for a
    lease; ``area_m2`` is a decimal string."""

    unit_id: str
    tenure: Tenure
    area_m2: str
    held_from: date
    price_fen: int | None = None
    monthly_rent_fen: int | None = None
    contract_id: str | None = None
    released_on: date | None = None
    monthly_property_fee_fen: int = 0

    def __post_init__(self) -> None:
        self.tenure = Tenure(self.tenure)
        if require_fen(self.monthly_property_fee_fen) < 0:
            raise ValueError("monthly_property_fee_fen must not be negative")
        try:
            area = Decimal(self.area_m2)
        except (InvalidOperation, TypeError):
            raise ValueError(f"area {self.area_m2!r} is not a decimal string") from None
        if not area.is_finite() or area <= 0:
            raise ValueError(f"area {self.area_m2!r} must be positive")
        if self.tenure is Tenure.PURCHASE and (self.price_fen is None or self.price_fen < 0):
            raise ValueError("a purchased unit needs a non-negative price_fen")
        if self.tenure is Tenure.LEASE and (
            self.monthly_rent_fen is None or self.monthly_rent_fen < 0
        ):
            raise ValueError("a leased unit needs a non-negative monthly_rent_fen")

    def held_in(self, month: Month) -> int:
        return days_held(month, self.held_from, self.released_on)


@dataclass(kw_only=True)
class Instalment:
    """One payment of a unit's purchase: ``sequence`` 0 is the down payment. Billed in
    ``bill_month`` (``YYYY-MM``); ``invoice_id`` once invoiced; ``cancelled`` when a
    buyback cancels it before it was invoiced."""

    unit_id: str
    sequence: int
    amount_fen: int
    bill_month: str
    invoice_id: str | None = None
    cancelled: bool = False

    @property
    def source(self) -> str:
        return f"purchase:{self.unit_id}:{self.sequence}"

    def charge(self) -> Charge:
        what = "down payment" if self.sequence == 0 else f"instalment {self.sequence}"
        return Charge(
            category=Category.PURCHASE,
            description=f"unit {self.unit_id} purchase, {what}",
            quantity="1",
            unit_price_fen=self.amount_fen,
            total_fen=self.amount_fen,
            source=self.source,
        )


def purchase_schedule(
    unit_id: str, price_fen: int, allocated_on: date, terms: BillingTerms
) -> list[Instalment]:
    """The down payment (sequence 0, billed in the allocation month) and the balance's
    instalments (sequence 1…n)."""
    down = apply_rate(require_fen(price_fen), terms.down_payment_ratio)
    start = Month.of(allocated_on)
    schedule = [Instalment(unit_id=unit_id, sequence=0, amount_fen=down, bill_month=str(start))]
    for index, amount in enumerate(split(price_fen - down, terms.instalment_count), start=1):
        month = start.plus(index * terms.instalment_interval_months)
        schedule.append(
            Instalment(unit_id=unit_id, sequence=index, amount_fen=amount, bill_month=str(month))
        )
    return schedule


def _proration(days: int, month: Month) -> str | None:
    return None if days == month.days else f"{days}/{month.days}"


def rent_charge(unit: HeldUnit, month: Month) -> Charge | None:
    """The month's rent for a leased unit (prorated), or None (not leased / not held)."""
    days = unit.held_in(month)
    if unit.tenure is not Tenure.LEASE or days == 0:
        return None
    rent = require_fen(unit.monthly_rent_fen)
    return Charge(
        category=Category.RENT,
        description=f"unit {unit.unit_id} rent {month}",
        quantity="1",
        unit_price_fen=rent,
        total_fen=round_fen(Decimal(rent) * days / month.days),
        source=f"rent:{unit.unit_id}:{month}",
        proration=_proration(days, month),
    )


def property_fee_charge(unit: HeldUnit, month: Month) -> Charge | None:
    """The month's property fee of a held unit at its own monthly fee, prorated by day
    and rounded once; None if the unit is not held that month or has no fee. The line
    shows area × price per m² when the fee divides the area exactly, else 1 × the fee."""
    days = unit.held_in(month)
    monthly = unit.monthly_property_fee_fen
    if days == 0 or monthly == 0:
        return None
    per_m2 = Decimal(monthly) / Decimal(unit.area_m2)
    if per_m2 == per_m2.to_integral_value():
        quantity, unit_price = unit.area_m2, int(per_m2)
    else:
        quantity, unit_price = "1", monthly
    return Charge(
        category=Category.PROPERTY_FEE,
        description=f"unit {unit.unit_id} property fee {month}",
        quantity=quantity,
        unit_price_fen=unit_price,
        total_fen=round_fen(Decimal(monthly) * days / month.days),
        source=f"property_fee:{unit.unit_id}:{month}",
        proration=_proration(days, month),
    )


#: How many months back a cycle still bills rent and property fees no cycle billed (the
#: allocation was seen late, or the service was down).
CATCH_UP_MONTHS = 12


def billable_months(held_from: date, month: Month) -> list[Month]:
    """The months a cycle for ``month`` bills rent and property fees for: from the
    holding's first month, at most :data:`CATCH_UP_MONTHS` back, through ``month``."""
    first = max(Month.of(held_from), month.plus(-CATCH_UP_MONTHS))
    months = []
    while first <= month:
        months.append(first)
        first = first.plus(1)
    return months


def recurring_charges_until(unit: HeldUnit, end: date) -> list[Charge]:
    """The unit's rent and property fee of every month it is held before ``end``
    (exclusive: a buyback's ``settled_on``, from which its charges stop), each prorated to
    the days held before ``end`` — what has accrued by then, invoiced or not (the caller
    drops the sources already invoiced)."""
    stop = end if unit.released_on is None else min(end, unit.released_on)
    if stop <= unit.held_from:
        return []
    until = replace(unit, released_on=stop)
    charges: list[Charge] = []
    month, last = Month.of(unit.held_from), Month.of(stop - timedelta(days=1))
    while month <= last:
        charges += [c for c in (rent_charge(until, month), property_fee_charge(until, month)) if c]
        month = month.plus(1)
    return charges


# --------------------------------------------------------------------------- utilities


class ReadingOutcome(StrEnum):
    """What a reading did to its meter (the service reports the flagged ones)."""

    BASELINE = "baseline"
    RECORDED = "recorded"
    DUPLICATE = "duplicate"
    OUT_OF_ORDER = "out_of_order"
    CONFLICT = "conflict"  # flagged
    DECREASE = "decrease"  # flagged

    @property
    def flagged(self) -> bool:
        return self in (ReadingOutcome.CONFLICT, ReadingOutcome.DECREASE)


def parse_reading(text: object) -> Decimal:
    """A meter reading: a plain decimal string of ASCII digits (``"1234.5"``: no sign,
    exponent, blank or other script's digits), 0 ≤ r < 10¹², at most 6 decimals."""
    if not isinstance(text, str) or not READING_PATTERN.fullmatch(text):
        raise Refused("invalid_reading", f"a reading is a decimal string, not {text!r}")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise Refused("invalid_reading", f"{text!r} is not a decimal number") from None
    if (
        not value.is_finite()
        or not 0 <= value < MAX_READING
        or -value.as_tuple().exponent > MAX_READING_PLACES
    ):
        raise Refused("invalid_reading", f"{text!r} is out of range")
    return value


@dataclass(kw_only=True)
class MeterState:
    """A meter's latest accepted reading and the reading billed up to (decimal strings;
    None before the first reading). ``kind`` is ``water`` or ``electricity``."""

    meter_id: str
    unit_id: str
    kind: Category
    last_reading: str | None = None
    last_read_at: datetime | None = None
    billed_reading: str | None = None

    def __post_init__(self) -> None:
        self.kind = Category(self.kind)
        if self.kind not in (Category.WATER, Category.ELECTRICITY):
            raise ValueError(f"a meter measures water or electricity, not {self.kind}")

    @property
    def unbilled(self) -> Decimal:
        if self.last_reading is None or self.billed_reading is None:
            return Decimal(0)
        return Decimal(self.last_reading) - Decimal(self.billed_reading)


def record_reading(meter: MeterState, reading: str, read_at: datetime) -> ReadingOutcome:
    """Apply one reading to ``meter`` (see the module doc for each outcome)."""
    value = parse_reading(reading)
    if meter.last_reading is None or meter.last_read_at is None:
        meter.last_reading = meter.billed_reading = str(value)
        meter.last_read_at = read_at
        return ReadingOutcome.BASELINE
    last = Decimal(meter.last_reading)
    if read_at == meter.last_read_at:
        return ReadingOutcome.DUPLICATE if value == last else ReadingOutcome.CONFLICT
    if read_at < meter.last_read_at:
        return ReadingOutcome.OUT_OF_ORDER
    if value < last:
        return ReadingOutcome.DECREASE
    meter.last_reading = str(value)
    meter.last_read_at = read_at
    return ReadingOutcome.RECORDED


def rebaseline(meter: MeterState, reading: str, read_at: datetime) -> None:
    """An operator's correction (e.g. a replaced meter): bill from ``reading`` on.
    Unbilled consumption before it is lost unless charged first (:func:`utility_charge`)."""
    value = str(parse_reading(reading))
    meter.last_reading = meter.billed_reading = value
    meter.last_read_at = read_at


def utility_charge(meter: MeterState, tariff_fen: int | Decimal, month: Month) -> Charge | None:
    """Bill the consumption since the last billed reading and move the billed mark; None
    when nothing was consumed. ``tariff_fen`` may be finer than a fen (``Decimal``): the
    total is ``round_half_up(consumption × tariff)``; the line's ``unit_price_fen`` (an
    int, as every ``*_fen`` field) is the tariff rounded, the exact one is in the
    description."""
    tariff = Decimal(tariff_fen)
    if isinstance(tariff_fen, bool) or not tariff.is_finite() or tariff < 0:
        raise ValueError(f"tariff {tariff_fen!r} must be a non-negative amount of fen")
    consumption = meter.unbilled
    if consumption <= 0:
        return None
    start, end = meter.billed_reading, meter.last_reading
    meter.billed_reading = meter.last_reading
    unit = "m³" if meter.kind is Category.WATER else "kWh"
    return Charge(
        category=meter.kind,
        description=(
            f"{meter.kind.value} meter {meter.meter_id} {start}→{end} {unit}"
            f" at {tariff} fen/{unit} ({month})"
        ),
        quantity=str(consumption),
        unit_price_fen=round_fen(tariff),
        total_fen=round_fen(consumption * tariff),
        source=f"{meter.kind.value}:{meter.meter_id}:{start}:{end}",
    )


# --------------------------------------------------------------------------- paid services


@dataclass(frozen=True, kw_only=True)
class ServiceFee:
    """A paid service: the ``charge`` to the enterprise, and the split of its fee
    between the park (``commission_fen``) and the firm (``firm_payable_fen``)."""

    ticket_id: str
    firm_id: str
    charge: Charge
    commission_fen: int
    firm_payable_fen: int
    commission_rate: str = "0"


def service_fee(
    ticket_id: str, firm_id: str, service_code: str, fee_fen: int, commission_rate: Decimal
) -> ServiceFee:
    """The charge and payable for a resolved ticket's fee."""
    if require_fen(fee_fen) < 0:
        raise Refused("invalid_fee", f"fee_fen {fee_fen} is negative")
    commission = apply_rate(fee_fen, commission_rate)
    charge = Charge(
        category=Category.SERVICE,
        description=f"service {service_code} (ticket {ticket_id})",
        quantity="1",
        unit_price_fen=fee_fen,
        total_fen=fee_fen,
        source=f"service:{ticket_id}",
        payable_fen=fee_fen - commission,
    )
    return ServiceFee(
        ticket_id=ticket_id,
        firm_id=firm_id,
        charge=charge,
        commission_fen=commission,
        firm_payable_fen=fee_fen - commission,
        commission_rate=str(commission_rate),
    )
