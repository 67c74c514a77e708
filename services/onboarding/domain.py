"""The onboarding domain model, in one import: ``from services.onboarding import domain``.

Standard library only: time arrives as an aware UTC ``now`` argument, ids from an
injected factory, and the business calendar as a ``deadline_for(now, business_days)``
callable, so tests control all three. Aggregates record what happened in their
``events`` list; the service layer writes those to the outbox in the same transaction.

The model lives in one module per idea; this module re-exports it:

- :mod:`.units` — :class:`Unit` (available → reserved → sold/leased), all-or-nothing
  :func:`reserve_units`;
- :mod:`.submissions` — :class:`Submission` and :func:`check_submission`, the value rules;
- :mod:`.applications` — :class:`Application`: receipt, joint review,
  accept-with-deficiencies deadlines, admission; with :mod:`.deficiencies` (the items
  owed) and :mod:`.admission` (enterprise creation, officer, unit allocation);
- :mod:`.enterprises` — :class:`Enterprise` after admission, and
  :func:`assign_chief_service_officer`;
- :mod:`.events`, :mod:`.reasons`, :mod:`.errors` — what the model records, the reason
  codes it gives, and the errors it raises.
"""

from services.onboarding.admission import AdmissionContext
from services.onboarding.applications import (
    Application,
    ApplicationStatus,
    DeadlineFor,
    Decision,
    ReviewDecision,
    refuse_unknown_application,
)
from services.onboarding.deficiencies import DeficiencyItem
from services.onboarding.enterprises import Enterprise, ServiceVisit, assign_chief_service_officer
from services.onboarding.errors import (
    ApplicationClosed,
    DomainError,
    IllegalUnitTransition,
    InvalidDate,
    LeaseNotHeld,
    NoServiceOfficers,
    ProductionAlreadyStarted,
    UnknownEnterprise,
    UnknownServiceOfficer,
)
from services.onboarding.events import (
    AcceptedWithDeficiencies,
    ApplicationReceived,
    ApplicationRejected,
    ApplicationSuspended,
    ChiefServiceOfficerReassigned,
    DeficiencyEscalated,
    DocumentsReceived,
    DomainEvent,
    DuplicateSubmissionRefused,
    EnterpriseAdmitted,
    ProductionStarted,
    ReleaseReason,
    ReviewDecisionRecorded,
    ReviewDecisionRefused,
    ReviewRequested,
    ServiceVisitLogged,
    UnitsAllocated,
    UnitsReleased,
    event_payload,
)
from services.onboarding.reasons import Reason, ReasonCode
from services.onboarding.submissions import EnterpriseDetails, Submission, check_submission
from services.onboarding.units import (
    AllocatedUnit,
    Tenure,
    Unit,
    UnitStatus,
    release_reservations,
    reserve_units,
)

__all__ = [
    "AcceptedWithDeficiencies",
    "AdmissionContext",
    "AllocatedUnit",
    "Application",
    "ApplicationClosed",
    "ApplicationReceived",
    "ApplicationRejected",
    "ApplicationStatus",
    "ApplicationSuspended",
    "ChiefServiceOfficerReassigned",
    "DeadlineFor",
    "Decision",
    "DeficiencyEscalated",
    "DeficiencyItem",
    "DocumentsReceived",
    "DomainError",
    "DomainEvent",
    "DuplicateSubmissionRefused",
    "Enterprise",
    "EnterpriseAdmitted",
    "EnterpriseDetails",
    "IllegalUnitTransition",
    "InvalidDate",
    "LeaseNotHeld",
    "NoServiceOfficers",
    "ProductionAlreadyStarted",
    "ProductionStarted",
    "Reason",
    "ReasonCode",
    "ReleaseReason",
    "ReviewDecision",
    "ReviewDecisionRecorded",
    "ReviewDecisionRefused",
    "ReviewRequested",
    "ServiceVisit",
    "ServiceVisitLogged",
    "Submission",
    "Tenure",
    "Unit",
    "UnitStatus",
    "UnitsAllocated",
    "UnitsReleased",
    "UnknownEnterprise",
    "UnknownServiceOfficer",
    "assign_chief_service_officer",
    "check_submission",
    "event_payload",
    "refuse_unknown_application",
    "release_reservations",
    "reserve_units",
]
