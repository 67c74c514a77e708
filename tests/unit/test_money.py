from decimal import Decimal

import pytest

from shared.money import apply_rate, fen_to_yuan, format_yuan, multiply, split, yuan_to_fen


def test_yuan_are_converted_to_fen_rounding_half_up():
    assert yuan_to_fen("12.345") == 1235
    assert yuan_to_fen("12.344") == 1234
    assert yuan_to_fen(3200) == 320_000


def test_floats_are_refused_as_money():
    with pytest.raises(TypeError):
        yuan_to_fen(12.5)
    with pytest.raises(TypeError):
        fen_to_yuan(12.0)


def test_a_rate_is_applied_and_rounded_half_up():
    assert apply_rate(1005, "0.09") == 90  # 90.45 → 90
    assert apply_rate(1050, "0.09") == 95  # 94.5 → 95
    with pytest.raises(ValueError):
        apply_rate(100, "1.5")


def test_a_price_per_square_metre_times_an_area():
    assert multiply(320_000, 300) == 96_000_000
    assert multiply(150, Decimal("0.5")) == 75


def test_an_amount_splits_into_instalments_that_sum_exactly():
    parts = split(1000, 3)
    assert parts == [334, 333, 333]
    assert sum(parts) == 1000


def test_amounts_are_formatted_for_people():
    assert format_yuan(1234567) == "¥12,345.67"
    assert format_yuan(-5) == "-¥0.05"
