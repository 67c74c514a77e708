"""What an applicant submits, and the value rules it must pass on receipt.

:func:`check_submission` collects *every* business reason at once (a bad USCC does not
hide an unknown unit), so the sender fixes everything in one round.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from services.onboarding.domain.industries import UnknownIndustryCode, parse_industry_code
from services.onboarding.domain.park import ParkDefinition, normalise_document_name
from services.onboarding.domain.reasons import Reason, ReasonCode
from services.onboarding.domain.units import Tenure, Unit
from services.onboarding.domain.uscc import validate_uscc


@dataclass(frozen=True)
class EnterpriseDetails:
    """The applying enterprise as it describes itself."""

    name: str
    uscc: str
    legal_representative: str
    contact_phone: str
    industry_code: str
    employees: int


@dataclass(frozen=True)
class Submission:
    """The content of an ``application_submitted`` event; ``application_id`` is the
    caller's idempotency key."""

    application_id: str
    park_id: str
    enterprise: EnterpriseDetails
    tenure: Tenure
    requested_units: tuple[str, ...]
    documents: tuple[str, ...]
    supply_chain_partner: bool
    lease_term_months: int | None = None  # a lease's term; None: the park's shortest

    def __post_init__(self) -> None:
        # Handlers build this from JSON: lists become tuples (a frozen value must not
        # share mutable lists) and "lease" becomes Tenure.LEASE, or fails here.
        object.__setattr__(self, "tenure", Tenure(self.tenure))
        object.__setattr__(self, "requested_units", tuple(self.requested_units))
        object.__setattr__(self, "documents", tuple(self.documents))

    def same_content_as(self, other: Submission) -> bool:
        """True if ``other`` says the same thing, whatever order its lists come in.

        A portal retrying a submission may rebuild the lists in another order; that is
        the same application, not a conflicting duplicate.
        """

        def canonical(submission: Submission) -> tuple:
            return (
                submission.application_id,
                submission.park_id,
                submission.enterprise,
                submission.tenure,
                tuple(sorted(set(submission.requested_units))),
                tuple(sorted({normalise_document_name(d) for d in submission.documents})),
                submission.supply_chain_partner,
                submission.lease_term_months,
            )

        return canonical(self) == canonical(other)


def check_submission(
    submission: Submission, park: ParkDefinition | None, units: Mapping[str, Unit]
) -> list[Reason]:
    """Every business reason to reject ``submission``; empty means it may proceed.

    ``park`` is ``None`` when the park id is unknown; ``units`` holds the park's units
    the repository found for the requested ids (floors expanded), by unit id. Unit
    checks need the park, so an unknown park is reported without a flood of unknown units.
    """
    reasons: list[Reason] = []
    if park is None:
        reasons.append(
            Reason(
                ReasonCode.PARK_NOT_FOUND, f"park {submission.park_id!r} does not exist", "park_id"
            )
        )
    uscc = submission.enterprise.uscc
    reasons += [
        Reason(ReasonCode.INVALID_USCC, f"USCC {uscc!r}: {problem}", "enterprise.uscc")
        for problem in validate_uscc(uscc)
    ]
    reasons += _industry_reasons(submission, park)
    if park is not None:
        reasons += _unit_reasons(submission, park, units)
        reasons += _lease_term_reasons(submission, park)
    return reasons


def _lease_term_reasons(submission: Submission, park: ParkDefinition) -> list[Reason]:
    term, offered = submission.lease_term_months, park.policy.lease_terms_months
    if term is None:
        return []
    if submission.tenure == Tenure.PURCHASE:
        message = "a purchase has no lease term: leave lease_term_months out"
    elif term not in offered:
        terms = ", ".join(str(months) for months in offered)
        message = f"park {park.id} leases for {terms} months, not {term}"
    else:
        return []
    return [Reason(ReasonCode.INVALID_LEASE_TERM, message, "lease_term_months")]


def _industry_reasons(submission: Submission, park: ParkDefinition | None) -> list[Reason]:
    field = "enterprise.industry_code"
    try:
        code = parse_industry_code(submission.enterprise.industry_code)
    except UnknownIndustryCode as error:
        return [Reason(ReasonCode.UNKNOWN_INDUSTRY_CODE, str(error), field)]
    if park is None:
        return []
    decision = park.policy.decide_industry(code)
    if decision.admitted:
        return []
    return [Reason(ReasonCode.INDUSTRY_NOT_ADMITTED, decision.message, field)]


def _unit_reasons(
    submission: Submission, park: ParkDefinition, units: Mapping[str, Unit]
) -> list[Reason]:
    field = "requested_units"
    unit_ids = park.resolve_requested_units(submission.requested_units)
    if not unit_ids:
        return [Reason(ReasonCode.NO_UNITS_REQUESTED, "no units requested", field)]
    reasons = []
    for unit_id in unit_ids:
        unit = units.get(unit_id)
        if unit is None or unit.park_id != park.id:
            reasons.append(
                Reason(ReasonCode.UNKNOWN_UNIT, f"park {park.id} has no unit {unit_id!r}", field)
            )
        elif not unit.is_available_to(submission.application_id):
            # The status is left out on purpose: who holds a unit is not the applicant's business.
            reasons.append(
                Reason(ReasonCode.UNITS_UNAVAILABLE, f"unit {unit_id} is not available", field)
            )
    return reasons
