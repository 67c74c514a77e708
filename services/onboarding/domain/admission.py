"""Admission: what happens when the joint review approves an application.

The enterprise is created (id from the injected factory), given the least-loaded chief
service officer, flagged for an environmental review when the park's policy says so,
and the reserved units are sold or leased to it under one contract, priced in fen.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from services.onboarding.domain.enterprises import Enterprise, assign_chief_service_officer
from services.onboarding.domain.industries import parse_industry_code
from services.onboarding.domain.park import AdmissionPolicy
from services.onboarding.domain.submissions import Submission
from services.onboarding.domain.timekeeping import park_date
from services.onboarding.domain.units import AllocatedUnit, Tenure, Unit


@dataclass(frozen=True)
class AdmissionContext:
    """What admission needs from outside the application, supplied by the handler.

    ``policy`` is the park's current policy (roster, environmental-review prefixes);
    ``active_enterprises`` maps officer id → active enterprises they serve now;
    ``new_id`` makes the enterprise and contract ids; ``existing`` is the enterprise of
    the same USCC already admitted to the park, if any: the application joins it.
    """

    policy: AdmissionPolicy
    active_enterprises: Mapping[str, int]
    new_id: Callable[[], str]
    existing: Enterprise | None = None


@dataclass(frozen=True)
class Admission:
    """The outcome of admitting an application: the enterprise and its allocation."""

    enterprise: Enterprise
    contract_id: str
    allocated: tuple[AllocatedUnit, ...]
    lease_start: date | None = None  # a lease's term, park dates; None for a purchase
    lease_end: date | None = None


def admit(
    submission: Submission, units: Sequence[Unit], now: datetime, context: AdmissionContext
) -> Admission:
    """Create the enterprise of ``submission`` (or take the one of the same USCC already
    admitted, which keeps its id and officer) and allocate it the reserved ``units``."""
    enterprise = context.existing or _new_enterprise(submission, now, context)
    contract_id = context.new_id()
    lease_start = lease_end = None
    if submission.tenure == Tenure.LEASE:
        # The term applied for (checked on receipt), else the park's shortest.
        months = submission.lease_term_months or min(context.policy.lease_terms_months)
        lease_start = park_date(now)
        lease_end = add_months(lease_start, months)
    allocated = tuple(
        unit.allocate(
            submission.application_id,
            submission.tenure,
            enterprise.enterprise_id,
            contract_id,
            lease_ends_on=lease_end,
        )
        for unit in units
    )
    enterprise.unit_ids = tuple(
        dict.fromkeys(enterprise.unit_ids + tuple(unit.unit_id for unit in allocated))
    )
    return Admission(enterprise, contract_id, allocated, lease_start, lease_end)


def _new_enterprise(submission: Submission, now: datetime, context: AdmissionContext) -> Enterprise:
    policy = context.policy
    officer = assign_chief_service_officer(
        policy.chief_service_officers, context.active_enterprises
    )
    industry = parse_industry_code(submission.enterprise.industry_code)
    return Enterprise(
        enterprise_id=context.new_id(),
        park_id=submission.park_id,
        application_id=submission.application_id,
        name=submission.enterprise.name,
        uscc=submission.enterprise.uscc,
        industry_code=submission.enterprise.industry_code,
        supply_chain_partner=submission.supply_chain_partner,
        environmental_review_required=policy.requires_environmental_review(industry),
        chief_service_officer=officer.id,
        admitted_at=now,
    )


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later; a day the month lacks becomes its last day
    (2027-01-31 + 1 month = 2027-02-28)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    next_month = date(year + month // 12, month % 12 + 1, 1)
    last_day = (next_month - timedelta(days=1)).day
    return date(year, month, min(day.day, last_day))
