"""Machine-readable reason codes of the ticketing domain, and the reasons that carry them.

A business rejection or refusal tells the sender *what to fix*: each :class:`Reason` has a
stable ``code`` a program can branch on (values are part of the ``ticketing.events``
contract and of the ``park-error`` header of a refused report), a readable ``message``
for a person, and, when one field is at fault, the payload ``field`` it concerns.

Public API: :class:`ReasonCode`, :class:`Reason`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ReasonCode(StrEnum):
    """Every code the ticketing domain gives; values are part of the event contract."""

    # Why a service request is rejected (service_request_rejected; all found together).
    ENTERPRISE_NOT_ADMITTED = "enterprise_not_admitted"
    UNKNOWN_SERVICE_CODE = "unknown_service_code"
    SERVICE_INACTIVE = "service_inactive"
    # The code names a review the park opens itself (buyback, admission), not a request.
    SERVICE_NOT_REQUESTABLE = "service_not_requestable"
    INVALID_PRIORITY = "invalid_priority"
    INVALID_DESCRIPTION = "invalid_description"
    # The same request id sent again with different content (decided by the service).
    CONFLICTING_DUPLICATE = "conflicting_duplicate"

    # Why a firm's report is refused (never valid; the ticket is unchanged).
    # Security: the sender was never this ticket's assignee (or is no firm at all).
    NOT_ASSIGNEE = "not_assignee"
    MISSING_SENDER = "missing_sender"
    # The sender had the ticket once but no longer does (declined, disabled, reassigned).
    FIRM_DECLINED = "firm_declined"
    NO_LONGER_ASSIGNED = "no_longer_assigned"
    TICKET_CANCELLED = "ticket_cancelled"
    TICKET_CLOSED = "ticket_closed"
    ALREADY_RESOLVED = "already_resolved"
    INVALID_OUTCOME = "invalid_outcome"
    REASONS_REQUIRED = "reasons_required"
    FEE_NOT_CHARGED = "fee_not_charged"
    FEE_REQUIRED = "fee_required"
    FEE_MISMATCH = "fee_mismatch"
    INVALID_FEE = "invalid_fee"
    UNKNOWN_REPORT_TYPE = "unknown_report_type"

    # Why a rating is refused.
    INVALID_SCORE = "invalid_score"
    ALREADY_RATED = "already_rated"


@dataclass(frozen=True)
class Reason:
    """One reason for a rejection or refusal: code, readable message, optional field."""

    code: ReasonCode
    message: str
    field: str | None = None
