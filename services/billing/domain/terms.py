"""The park policy values the billing model needs, as one plain frozen value.

The park file's ``billing:`` section is read by :mod:`.park_policy` (``BillingPolicy``);
the service adapts that to :class:`BillingTerms`, so the model depends on nothing but
these fields. Rates are :class:`~decimal.Decimal` (decimal strings in files), amounts
integer fen.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from services.billing.domain.vat import DEFAULT_VAT_RATES, Category
from shared.money import parse_rate

INVOICE_PREFIX_MAX = 12


@dataclass(frozen=True, kw_only=True)
class BillingTerms:
    """One park's billing policy.

    - ``vat_rates``: rate per category (``late_fee`` excluded: see :mod:`.vat`);
    - ``down_payment_ratio``: share of a unit's price invoiced on allocation (``0.30``);
    - ``instalment_count`` / ``instalment_interval_months``: how the balance is split
      and billed (the first instalment one interval after the allocation month);
    - ``payment_due_days``: days from issue to ``due_on``;
    - ``late_fee_daily_rate`` (``0.0005`` = 0.05 %/day) and ``late_fee_cap_ratio``
      (total late fees on an invoice never exceed this share of its principal; ``1``);
    - ``water_tariff_fen`` per m³, ``electricity_tariff_fen`` per kWh — an int or a
      Decimal (a published tariff such as 0.6175 CNY/kWh is 61.75 fen: kept exact, the
      charge is rounded once);
    - ``service_commission_rate``: the park's share of a firm's fee;
    - ``invoice_prefix``: the park's invoice number prefix (``AUX``).
    """

    vat_rates: Mapping[Category, Decimal] = field(default_factory=lambda: dict(DEFAULT_VAT_RATES))
    down_payment_ratio: Decimal = Decimal("0.30")
    instalment_count: int = 6
    instalment_interval_months: int = 1
    payment_due_days: int = 30
    late_fee_daily_rate: Decimal = Decimal("0.0005")
    late_fee_cap_ratio: Decimal = Decimal("1")
    water_tariff_fen: int | Decimal = 450
    electricity_tariff_fen: int | Decimal = 85
    service_commission_rate: Decimal = Decimal("0.10")
    invoice_prefix: str = "AUX"

    def __post_init__(self) -> None:
        for category in Category:
            if category is not Category.LATE_FEE and category not in self.vat_rates:
                raise ValueError(f"no VAT rate for {category.value}")
        for name in (
            "down_payment_ratio",
            "late_fee_daily_rate",
            "late_fee_cap_ratio",
            "service_commission_rate",
        ):
            parse_rate(getattr(self, name))
        if self.instalment_count < 1 or self.instalment_interval_months < 1:
            raise ValueError("instalment count and interval must be at least 1")
        if self.payment_due_days < 0:
            raise ValueError("payment_due_days must not be negative")
        for name in ("water_tariff_fen", "electricity_tariff_fen"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int | Decimal)
                or not Decimal(value).is_finite()
                or value < 0
            ):
                raise ValueError(f"{name} must be a non-negative int or Decimal of fen")
        from services.billing.domain.invoices import validate_prefix

        validate_prefix(self.invoice_prefix)
