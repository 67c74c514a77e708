"""Events the onboarding service publishes on ``onboarding.events`` (DESIGN §5).

Every event about an application carries ``application_id`` and, once admitted,
``enterprise_id``. Reasons are ``{code, message, field}``: ``code`` is machine-readable
(see ``docs/onboarding.md`` for every code), ``message`` is for a person, ``field`` names
the payload field at fault when there is one.
"""

from marshmallow import fields, validate

from shared.contract.fields import (
    Fen,
    IsoDate,
    StrictBoolean,
    StrictInteger,
    StrictList,
    Text,
    UtcDateTime,
    Uuid,
)
from shared.contract.registry import PayloadSchema, event
from shared.limits import MAX_UNIT_AREA_M2

TENURES = validate.OneOf(["purchase", "lease"])


class ReasonSchema(PayloadSchema):
    """One reason: a stable code, a readable message, the field at fault (or null)."""

    code = Text(required=True)
    message = Text(required=True)
    field = fields.String(required=True, allow_none=True)


class AllocatedUnitSchema(PayloadSchema):
    """A unit as sold or leased: its area and money terms in integer fen."""

    unit_id = Text(required=True)
    area_m2 = StrictInteger(required=True, minimum=1, maximum=MAX_UNIT_AREA_M2)
    tenure = Text(required=True, validate=TENURES)
    price_fen = Fen(required=True, allow_none=True)
    monthly_rent_fen = Fen(required=True, allow_none=True)
    monthly_property_fee_fen = Fen(required=True)
    contract_id = Text(required=True)


def _ids(**kwargs):
    return StrictList(Text(), required=True, **kwargs)


@event("onboarding", "application_received")
class ApplicationReceived(PayloadSchema):
    """An application arrived; ``requested_units`` has floors expanded into rooms."""

    application_id = Uuid(required=True)
    enterprise_name = Text(required=True)
    uscc = Text(required=True)
    industry_code = Text(required=True)
    tenure = Text(required=True, validate=TENURES)
    requested_units = _ids()
    documents = _ids()
    supply_chain_partner = StrictBoolean(required=True)


@event("onboarding", "application_rejected")
class ApplicationRejected(PayloadSchema):
    """The application is rejected, with every reason found on receipt or the rejecting
    department's reason; any reserved units are released (``units_released``)."""

    application_id = Uuid(required=True)
    reasons = StrictList(fields.Nested(ReasonSchema), required=True, min_length=1)
    department = fields.String(required=True, allow_none=True)


@event("onboarding", "duplicate_submission_refused")
class DuplicateSubmissionRefused(PayloadSchema):
    """An application id arrived again with different content (``conflicting_duplicate``);
    the original application is unchanged."""

    application_id = Uuid(required=True)
    reasons = StrictList(fields.Nested(ReasonSchema), required=True, min_length=1)


@event("onboarding", "application_accepted_with_deficiencies")
class AcceptedWithDeficiencies(PayloadSchema):
    """Accepted although required documents are missing (容缺): ``items`` are due by
    ``deadline`` (24:00 park time of the last business day); the review goes on."""

    application_id = Uuid(required=True)
    items = _ids(min_length=1)
    deadline = UtcDateTime(required=True)


@event("onboarding", "review_requested")
class ReviewRequested(PayloadSchema):
    """Joint review (联审联批) opened: each department is to publish ``review_decided``."""

    application_id = Uuid(required=True)
    departments = _ids(min_length=1)


@event("onboarding", "review_decision_recorded")
class ReviewDecisionRecorded(PayloadSchema):
    """A department's first decision, which stands."""

    application_id = Uuid(required=True)
    department = Text(required=True)
    decision = Text(required=True, validate=validate.OneOf(["approve", "reject"]))
    reason = fields.String(required=True)


@event("onboarding", "review_decision_refused")
class ReviewDecisionRefused(PayloadSchema):
    """A ``review_decided`` was not taken: ``department_not_requested``,
    ``decision_already_recorded`` or ``application_closed``. (One for an application not
    received yet is retried, not refused: it may still come.)"""

    application_id = Uuid(required=True)
    department = Text(required=True)
    decision = Text(required=True)
    code = Text(required=True)
    message = Text(required=True)


@event("onboarding", "documents_received")
class DocumentsReceived(PayloadSchema):
    """Documents arrived: the deficiency items they cleared, those still outstanding,
    and those that match no required document."""

    application_id = Uuid(required=True)
    enterprise_id = fields.String(required=True, allow_none=True)
    documents = _ids()
    cleared = _ids()
    outstanding = _ids()
    unrecognised = _ids()


@event("onboarding", "documents_refused")
class DocumentsRefused(PayloadSchema):
    """A ``documents_supplied`` was not taken: ``application_closed`` (rejected,
    suspended or withdrawn: apply again). (Documents for an application not received
    yet are retried, not refused: it may still come.)"""

    application_id = Uuid(required=True)
    code = Text(required=True)
    message = Text(required=True)


@event("onboarding", "application_suspended")
class ApplicationSuspended(PayloadSchema):
    """The deficiency deadline passed before admission: the application is closed for
    good (the enterprise applies again) and its units are released."""

    application_id = Uuid(required=True)
    outstanding = _ids(min_length=1)
    deadline = UtcDateTime(required=True)


@event("onboarding", "review_overdue")
class ReviewOverdue(PayloadSchema):
    """The joint review passed the park's review time limit (business days) while
    ``pending_departments`` have not decided: operators chase them (the review goes on)."""

    application_id = Uuid(required=True)
    due_at = UtcDateTime(required=True)
    pending_departments = _ids(min_length=1)


@event("onboarding", "application_withdrawn")
class ApplicationWithdrawn(PayloadSchema):
    """The application was withdrawn by the ``applicant`` (portal) or an ``operator``
    (RPC): it is closed and its reserved units are released (``units_released``)."""

    application_id = Uuid(required=True)
    reason = Text(required=True)
    withdrawn_by = Text(required=True, validate=validate.OneOf(["applicant", "operator"]))


@event("onboarding", "withdrawal_refused")
class WithdrawalRefused(PayloadSchema):
    """A portal ``application_withdrawn`` was not taken: ``application_closed`` (already
    admitted, rejected, suspended or withdrawn)."""

    application_id = Uuid(required=True)
    code = Text(required=True)
    message = Text(required=True)


@event("onboarding", "deficiency_escalated")
class DeficiencyEscalated(PayloadSchema):
    """An admitted enterprise missed a document deadline: its chief service officer
    takes the item up (the admission stands)."""

    application_id = Uuid(required=True)
    enterprise_id = Text(required=True)
    item = Text(required=True)
    deadline = UtcDateTime(required=True)
    chief_service_officer = Text(required=True)


@event("onboarding", "enterprise_admitted")
class EnterpriseAdmitted(PayloadSchema):
    """Every department approved: the enterprise is admitted, with its chief service
    officer (首席服务官), whether an environmental review (环评) is required, and (optional)
    its legal representative and contact phone."""

    application_id = Uuid(required=True)
    enterprise_id = Text(required=True)
    enterprise_name = Text(required=True)
    uscc = Text(required=True)
    industry_code = Text(required=True)
    tenure = Text(required=True, validate=TENURES)
    supply_chain_partner = StrictBoolean(required=True)
    environmental_review_required = StrictBoolean(required=True)
    chief_service_officer = Text(required=True)
    # Added for ticketing's work items (the firm contacts the enterprise): optional, so
    # events published before they existed stay valid.
    legal_representative = Text(load_default=None, allow_none=True)
    contact_phone = Text(load_default=None, allow_none=True)


@event("onboarding", "units_allocated")
class UnitsAllocated(PayloadSchema):
    """The reserved units were sold or leased to the enterprise under one contract."""

    application_id = Uuid(required=True)
    enterprise_id = Text(required=True)
    contract_id = Text(required=True)
    tenure = Text(required=True, validate=TENURES)
    units = StrictList(fields.Nested(AllocatedUnitSchema), required=True, min_length=1)
    # A lease's term (park dates): it starts on admission and ends on ``lease_end``, when
    # the units return to inventory on their own; both null for a purchase.
    lease_start = IsoDate(load_default=None, allow_none=True)
    lease_end = IsoDate(load_default=None, allow_none=True)


@event("onboarding", "units_released")
class UnitsReleased(PayloadSchema):
    """Units went back to inventory: ``application_rejected``, ``application_suspended``,
    ``application_withdrawn``, ``lease_ended`` or ``buyback_settled`` (then with
    ``claim_id``). ``contract_id`` (added, optional): the contract the units were held
    under (``lease_ended``, ``buyback_settled``; null for units only reserved)."""

    units = _ids(min_length=1)
    reason = Text(required=True)
    application_id = fields.String(required=True, allow_none=True)
    enterprise_id = fields.String(required=True, allow_none=True)
    claim_id = fields.String(load_default=None, allow_none=True)
    contract_id = Text(load_default=None, allow_none=True)


@event("onboarding", "release_refused")
class ReleaseRefused(PayloadSchema):
    """Onboarding refused to return the units of a settled buyback claim
    (``buyback/claim_settled``) to inventory: the two services disagree about the park's
    property. ``reasons`` name each unit and why (``units_not_owned``,
    ``unknown_enterprise``); nothing changed. The buyback claim is stuck and escalated."""

    claim_id = Uuid(required=True)
    enterprise_id = Text(required=True)
    units = _ids(min_length=1)
    reasons = StrictList(fields.Nested(ReasonSchema), required=True, min_length=1)


@event("onboarding", "production_started")
class ProductionStarted(PayloadSchema):
    """The enterprise started production (park date): the ten-year buyback window runs
    from ``started_on``."""

    enterprise_id = Text(required=True)
    application_id = Uuid(required=True)
    started_on = IsoDate(required=True)


@event("onboarding", "chief_service_officer_reassigned")
class ChiefServiceOfficerReassigned(PayloadSchema):
    """The enterprise has a new chief service officer."""

    enterprise_id = Text(required=True)
    previous = Text(required=True)
    chief_service_officer = Text(required=True)


@event("onboarding", "service_visit_logged")
class ServiceVisitLogged(PayloadSchema):
    """A service officer visited the enterprise (联系走访)."""

    enterprise_id = Text(required=True)
    visit_id = Text(required=True)
    officer_id = Text(required=True)
    visited_on = IsoDate(required=True)
    note = fields.String(required=True)
