"""Money is integer fen; rates are Decimals; rounding is ROUND_HALF_UP.

Amounts never pass through float: a yuan figure is parsed from its decimal string.
"""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

FEN_PER_YUAN = 100


def _decimal(value: str | int | Decimal, what: str) -> Decimal:
    if isinstance(value, float | bool):
        kind = type(value).__name__
        raise TypeError(f"{what} must be a decimal string, int or Decimal, not {kind}")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{what} {value!r} is not a decimal number") from None
    if not number.is_finite():
        raise ValueError(f"{what} {value!r} is not finite")
    return number


def round_fen(amount: Decimal) -> int:
    """Round a fractional amount of fen to whole fen, halves away from zero."""
    return int(amount.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def yuan_to_fen(yuan: str | int | Decimal) -> int:
    """``"12.345"`` yuan → 1235 fen (ROUND_HALF_UP)."""
    return round_fen(_decimal(yuan, "yuan amount") * FEN_PER_YUAN)


def fen_to_yuan(fen: int) -> Decimal:
    """1235 fen → ``Decimal("12.35")`` yuan, exact."""
    return Decimal(require_fen(fen)) / FEN_PER_YUAN


def format_yuan(fen: int) -> str:
    """1234567 fen → ``"¥12,345.67"``, for humans only (never parsed back)."""
    sign = "-" if fen < 0 else ""
    return f"{sign}¥{abs(fen_to_yuan(fen)):,.2f}"


def parse_rate(rate: str | Decimal) -> Decimal:
    """A tax or fee rate such as ``"0.09"``; must lie in [0, 1]."""
    number = _decimal(rate, "rate")
    if not Decimal(0) <= number <= Decimal(1):
        raise ValueError(f"rate {rate!r} is outside [0, 1]")
    return number


def apply_rate(fen: int, rate: str | Decimal) -> int:
    """``fen × rate`` rounded to whole fen: the tax on 1,005 fen at 0.09 is 90 fen."""
    return round_fen(Decimal(require_fen(fen)) * parse_rate(rate))


def multiply(fen_per_unit: int, quantity: int | str | Decimal) -> int:
    """A unit price times a quantity (area in m², kWh …), rounded to whole fen."""
    return round_fen(Decimal(require_fen(fen_per_unit)) * _decimal(quantity, "quantity"))


def split(fen: int, parts: int) -> list[int]:
    """Split an amount into ``parts`` instalments that differ by at most one fen and sum
    exactly to ``fen``; the larger instalments come first."""
    if parts < 1:
        raise ValueError("parts must be at least 1")
    base, remainder = divmod(require_fen(fen), parts)
    return [base + 1 if index < remainder else base for index in range(parts)]


def require_fen(value: object) -> int:
    """Return ``value`` if it is a strict integer amount of fen, else raise TypeError."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"an amount of fen must be an int, not {type(value).__name__}")
    return value
