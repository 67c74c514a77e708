"""Billing's unit of work: the shared one, with billing's repository and the park terms
the use cases apply (each park's ``billing:`` section, the defaults for a park without).

Use cases take a unit of work and enter it once per transaction (``with uow:``); a use
case that touches many accounts (the billing cycle) enters it once per account.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session

from services.billing.domain.terms import BillingTerms
from services.billing.repository import BillingRepository
from shared.messaging.unit_of_work import UnitOfWork

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PARKS_DIR = ROOT / "deploy" / "parks"


@dataclass
class BillingRules:
    """Each park's :class:`BillingTerms` (a park without a ``billing:`` section gets the
    defaults: China's general-taxpayer VAT rates, 30 % down, six monthly instalments …)."""

    terms_by_park: Mapping[str, BillingTerms] = field(default_factory=dict)
    default: BillingTerms | None = None
    #: The day of the month from which the cycle issues the month's invoices (1..28).
    billing_days: Mapping[str, int] = field(default_factory=dict)
    #: Each park's statement header: its name and the lines under it (the district).
    headers: Mapping[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)

    @classmethod
    def load(cls, parks_dir: str | Path | None = DEFAULT_PARKS_DIR) -> BillingRules:
        if not parks_dir or not Path(parks_dir).is_dir():
            return cls()
        from services.billing.domain import park_policy

        policies = park_policy.load_billing_policies(parks_dir)
        return cls(
            {park_id: terms_of(policy) for park_id, policy in policies.items()},
            billing_days={park_id: policy.billing_day for park_id, policy in policies.items()},
            headers={
                park_id: (
                    policy.park_name or park_id,
                    tuple(line for line in (policy.park_district,) if line),
                )
                for park_id, policy in policies.items()
            },
        )

    def statement_header(self, park_id: str | None) -> tuple[str, tuple[str, ...]]:
        """The park's name and header lines for its statements (its id when the park
        file is not known)."""
        return self.headers.get(park_id or "", (park_id or "", ()))

    def billing_day(self, park_id: str | None) -> int:
        return self.billing_days.get(park_id, 1) if park_id is not None else 1

    def terms(self, park_id: str | None) -> BillingTerms:
        found = self.terms_by_park.get(park_id) if park_id is not None else None
        if found is not None:
            return found
        if self.default is None:
            self.default = BillingTerms()
        return self.default


def terms_of(policy) -> BillingTerms:
    """The model's :class:`BillingTerms` from a park file's ``BillingPolicy``."""
    from services.billing.domain.park_policy import default_prefix
    from services.billing.domain.vat import Category

    return BillingTerms(
        vat_rates=dict(policy.vat_rates),
        down_payment_ratio=policy.down_payment_ratio,
        instalment_count=policy.instalment_count,
        instalment_interval_months=policy.instalment_interval_months,
        payment_due_days=policy.payment_due_days,
        late_fee_daily_rate=policy.late_fee_daily_rate,
        late_fee_cap_ratio=policy.late_fee_cap_ratio,
        # exact: a tariff is decimal fen per unit (61.75 fen/kWh); each line is rounded once
        water_tariff_fen=policy.tariff_fen(Category.WATER),
        electricity_tariff_fen=policy.tariff_fen(Category.ELECTRICITY),
        service_commission_rate=policy.service_commission_rate,
        invoice_prefix=policy.invoice_prefix or default_prefix(policy.park_id),
    )


@functools.cache
def default_rules() -> BillingRules:
    """The rules from the repository's ``deploy/parks`` (for callers without config)."""
    try:
        return BillingRules.load()
    except FileNotFoundError:
        return BillingRules()


class BillingUnitOfWork(UnitOfWork):
    """``uow.billing`` over the transaction's session; ``uow.rules`` given (the service's
    provider) or the ``deploy/`` defaults."""

    billing: BillingRepository

    def __init__(self, *args, rules: BillingRules | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.rules = rules if rules is not None else default_rules()

    def opened(self, session: Session) -> None:
        self.billing = BillingRepository(session)
