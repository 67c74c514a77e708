"""VAT is split per line from tax-inclusive totals, ROUND_HALF_UP to the fen."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.billing.domain.vat import (
    DEFAULT_VAT_RATES,
    Category,
    late_fee_rate,
    rate_for,
    tax_included,
)


def test_the_tax_in_a_property_fee_of_45000_fen_at_6_percent_is_2547_fen():
    assert tax_included(45_000, "0.06") == 2_547


def test_the_tax_in_rent_of_450000_fen_at_9_percent_is_37156_fen():
    # 450,000 × 0.09 / 1.09 = 37,155.96…
    assert tax_included(450_000, Decimal("0.09")) == 37_156


def test_a_half_fen_of_tax_rounds_away_from_zero():
    # at rate 1, tax = total / 2: 1 fen → 0.5 → 1; a credit of 1 fen → −1
    assert tax_included(1, "1") == 1
    assert tax_included(3, "1") == 2
    assert tax_included(-1, "1") == -1


def test_default_rates_are_chinas_general_taxpayer_rates():
    assert {c.value: str(r) for c, r in DEFAULT_VAT_RATES.items()} == {
        "purchase": "0.09",
        "rent": "0.09",
        "property_fee": "0.06",
        "water": "0.09",
        "electricity": "0.13",
        "service": "0.06",
    }


def test_a_late_fee_has_no_rate_of_its_own():
    with pytest.raises(ValueError):
        rate_for(Category.LATE_FEE, DEFAULT_VAT_RATES)


def test_a_late_fee_is_taxed_at_the_rate_of_the_overdue_invoices_largest_line():
    lines = [
        (Category.PROPERTY_FEE, 45_000, Decimal("0.06")),
        (Category.RENT, 450_000, Decimal("0.09")),
        (Category.ELECTRICITY, 450_000, Decimal("0.13")),  # a tie: the first one wins
    ]
    assert late_fee_rate(lines) == Decimal("0.09")


@given(
    total=st.integers(min_value=-(10**12), max_value=10**12),
    rate=st.sampled_from(["0", "0.03", "0.06", "0.09", "0.13", "1"]),
)
def test_the_tax_is_the_exact_share_rounded_to_within_half_a_fen(total, rate):
    exact = Decimal(total) * Decimal(rate) / (1 + Decimal(rate))
    tax = tax_included(total, rate)
    assert abs(Decimal(tax) - exact) <= Decimal("0.5")
    assert abs(tax) <= abs(total)
