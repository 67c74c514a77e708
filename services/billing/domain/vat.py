"""Charge categories and the VAT split of tax-inclusive totals.

Every charge is shown as a tax-inclusive total with its tax split out, per line::

    tax_fen = round_half_up(total_fen × rate / (1 + rate))

An invoice's tax is the sum of its lines' taxes (never recomputed on the invoice total).
Worked example: a property-fee line of 45,000 fen at 6 % carries
45,000 × 0.06 / 1.06 = 2,547.169… → 2,547 fen of tax (42,453 fen net).

Rates come from the park policy (:class:`~.terms.BillingTerms`); :data:`DEFAULT_VAT_RATES`
are China's current general-taxpayer rates.

**The late fee (违约金).** Under Chinese VAT a late fee charged by the seller together with
a taxable sale is a 价外费用 — part of the price of that sale — and is taxed at the sale's
rate. The model keeps that simple and explicit: a late-fee line is taxed at the rate of
the *principal category* of the overdue invoice — the category of its line with the
largest total (the first such line on a tie); see :func:`late_fee_rate`. The late-fee line
keeps the ``late_fee`` category, so revenue reports show penalties apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from enum import StrEnum

from shared.money import parse_rate, require_fen, round_fen


class Category(StrEnum):
    """What a charge is for; each non-late-fee category has its own VAT rate."""

    PURCHASE = "purchase"  # sale of real estate
    RENT = "rent"  # lease of real estate
    PROPERTY_FEE = "property_fee"  # property management
    WATER = "water"
    ELECTRICITY = "electricity"
    SERVICE = "service"  # legal / accounting / consulting
    LATE_FEE = "late_fee"  # 违约金: taxed at the overdue invoice's rate (module doc)


DEFAULT_VAT_RATES: Mapping[Category, Decimal] = {
    Category.PURCHASE: Decimal("0.09"),
    Category.RENT: Decimal("0.09"),
    Category.PROPERTY_FEE: Decimal("0.06"),
    Category.WATER: Decimal("0.09"),
    Category.ELECTRICITY: Decimal("0.13"),
    Category.SERVICE: Decimal("0.06"),
}


def tax_included(total_fen: int, rate: str | Decimal) -> int:
    """The VAT contained in a tax-inclusive total, ROUND_HALF_UP to the fen.

    ``tax_included(45_000, "0.06") == 2_547``; a negative total (a credit) gives the
    mirror image: ``tax_included(-45_000, "0.06") == -2_547``.
    """
    rate = parse_rate(rate)
    return round_fen(Decimal(require_fen(total_fen)) * rate / (1 + rate))


def rate_for(category: Category, rates: Mapping[Category, Decimal]) -> Decimal:
    """The VAT rate of a category other than ``late_fee`` (use :func:`late_fee_rate`)."""
    if category is Category.LATE_FEE:
        raise ValueError("a late fee is taxed at its overdue invoice's rate: use late_fee_rate")
    try:
        return parse_rate(rates[category])
    except KeyError:
        raise ValueError(f"no VAT rate for category {category.value!r}") from None


def late_fee_rate(lines: Iterable[tuple[Category, int, Decimal]]) -> Decimal:
    """The rate of a late fee on an invoice whose lines are ``(category, total_fen,
    vat_rate)``: the rate of the line with the largest total, the first one on a tie.

    A late fee on an invoice that is itself only late fees (never charged: fees do not
    compound, see :mod:`.late_fees`) would take those lines' rate."""
    best: tuple[int, Decimal] | None = None
    for _category, total_fen, rate in lines:
        if best is None or total_fen > best[0]:
            best = (total_fen, rate)
    if best is None:
        raise ValueError("an invoice without lines has no late-fee rate")
    return best[1]
