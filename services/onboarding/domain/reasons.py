"""Machine-readable reason codes, and the reasons that carry them to the sender.

A business rejection tells the sender *what to fix*: each :class:`Reason` has a stable
code a program can branch on, a readable message for a person, and, when one field is
at fault, the payload field it concerns (``enterprise.uscc``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ReasonCode(StrEnum):
    """Every code the onboarding domain may give; values are part of the event contract."""

    # Why an application is rejected on receipt (all found are reported together).
    INVALID_USCC = "invalid_uscc"
    UNKNOWN_INDUSTRY_CODE = "unknown_industry_code"
    INDUSTRY_NOT_ADMITTED = "industry_not_admitted"
    PARK_NOT_FOUND = "park_not_found"
    NO_UNITS_REQUESTED = "no_units_requested"
    UNKNOWN_UNIT = "unknown_unit"
    UNITS_UNAVAILABLE = "units_unavailable"
    # A lease term the park does not offer, or a term on a purchase.
    INVALID_LEASE_TERM = "invalid_lease_term"
    # Another application of the same USCC to the park is still under review.
    APPLICATION_PENDING = "application_pending"
    # The same application id submitted again with different content.
    CONFLICTING_DUPLICATE = "conflicting_duplicate"
    # A joint-review department rejected the application.
    REJECTED_BY_DEPARTMENT = "rejected_by_department"
    # Why a review decision was refused (the application is unchanged).
    DECISION_ALREADY_RECORDED = "decision_already_recorded"
    DEPARTMENT_NOT_REQUESTED = "department_not_requested"
    APPLICATION_CLOSED = "application_closed"
    # An operator (RPC) names no application. (An event naming one not received yet is
    # not refused but retried: it may still come.)
    UNKNOWN_APPLICATION = "unknown_application"
    # Why a buyback settlement's release was refused (release_refused; nothing changed).
    UNITS_NOT_OWNED = "units_not_owned"
    UNKNOWN_ENTERPRISE = "unknown_enterprise"


@dataclass(frozen=True)
class Reason:
    """One reason for a rejection or refusal: code, readable message, optional field."""

    code: ReasonCode
    message: str
    field: str | None = None
