import pytest

from services.onboarding.domain.applications import (
    ApplicationStatus,
    Decision,
)
from services.onboarding.domain.events import (
    ApplicationRejected,
    EnterpriseAdmitted,
    ReviewDecisionRecorded,
    ReviewDecisionRefused,
    UnitsAllocated,
    UnitsReleased,
)
from services.onboarding.domain.reasons import ReasonCode
from services.onboarding.domain.units import UnitStatus
from services.onboarding.tests.unit.builders import (
    NOW,
    admission,
    approve_all,
    make_park,
    receive,
    units_of,
)


@pytest.fixture
def park():
    return make_park()


@pytest.fixture
def units(park):
    return units_of(park)


@pytest.fixture
def application(park, units):
    return receive(park, units)


def decide(application, park, units, department, decision, reason="意见"):
    return application.record_decision(
        department, decision, reason, NOW, units=units, admission=admission(park)
    )


def test_a_first_approval_is_recorded_and_the_review_stays_open(application, park, units):
    assert decide(application, park, units, "market_regulation", Decision.APPROVE) is None
    assert isinstance(application.events[-1], ReviewDecisionRecorded)
    assert application.status is ApplicationStatus.UNDER_REVIEW


def test_approval_by_every_department_admits_the_enterprise(application, park, units):
    enterprise = approve_all(application, park, units)
    assert application.status is ApplicationStatus.ADMITTED
    assert application.enterprise_id == enterprise.enterprise_id
    assert [type(e) for e in application.events[-2:]] == [EnterpriseAdmitted, UnitsAllocated]


def test_one_rejection_rejects_the_application_with_that_departments_reason(
    application, park, units
):
    decide(application, park, units, "ecology_environment", Decision.REJECT, "排放不达标")
    rejected = next(e for e in application.events if isinstance(e, ApplicationRejected))
    assert application.status is ApplicationStatus.REJECTED
    assert rejected.department == "ecology_environment"
    assert [(r.code, r.message) for r in rejected.reasons] == [
        (ReasonCode.REJECTED_BY_DEPARTMENT, "ecology_environment: 排放不达标")
    ]


def test_a_rejection_releases_the_reserved_units(application, park, units):
    decide(application, park, units, "ecology_environment", Decision.REJECT)
    released = application.events[-1]
    assert isinstance(released, UnitsReleased)
    assert released.units == ("B01-1F-01", "B01-1F-02")
    assert released.reason == "application_rejected"
    assert units["B01-1F-01"].status is UnitStatus.AVAILABLE


def test_the_same_decision_again_has_no_effect_and_records_nothing(application, park, units):
    decide(application, park, units, "market_regulation", Decision.APPROVE)
    count = len(application.events)
    decide(application, park, units, "market_regulation", Decision.APPROVE, "重复投递")
    assert len(application.events) == count


def test_a_different_decision_from_a_department_that_decided_is_refused(application, park, units):
    decide(application, park, units, "market_regulation", Decision.APPROVE)
    decide(application, park, units, "market_regulation", Decision.REJECT)
    refusal = application.events[-1]
    assert isinstance(refusal, ReviewDecisionRefused)
    assert refusal.code == ReasonCode.DECISION_ALREADY_RECORDED
    assert application.decisions["market_regulation"].decision is Decision.APPROVE


def test_a_decision_from_a_department_not_asked_is_refused(application, park, units):
    decide(application, park, units, "natural_resources", Decision.APPROVE)
    assert application.events[-1].code == ReasonCode.DEPARTMENT_NOT_REQUESTED
    assert "natural_resources" not in application.decisions


def test_a_decision_on_a_rejected_application_is_refused(application, park, units):
    decide(application, park, units, "ecology_environment", Decision.REJECT)
    decide(application, park, units, "market_regulation", Decision.APPROVE)
    assert application.events[-1].code == ReasonCode.APPLICATION_CLOSED


def test_a_decision_on_an_application_rejected_on_receipt_is_refused(park, units):
    application = receive(park, units, industry_code="F5191")
    decide(application, park, units, "market_regulation", Decision.APPROVE)
    assert application.events[-1].code == ReasonCode.APPLICATION_CLOSED


def test_the_last_approval_redelivered_after_admission_has_no_effect(application, park, units):
    approve_all(application, park, units)
    count = len(application.events)
    assert decide(application, park, units, "ecology_environment", Decision.APPROVE) is None
    assert len(application.events) == count


def test_a_rejection_after_admission_is_refused_as_already_recorded(application, park, units):
    approve_all(application, park, units)
    decide(application, park, units, "ecology_environment", Decision.REJECT)
    assert application.events[-1].code == ReasonCode.DECISION_ALREADY_RECORDED
    assert application.status is ApplicationStatus.ADMITTED


def test_a_decision_given_as_plain_text_counts_as_that_decision(application, park, units):
    decide(application, park, units, "ecology_environment", "reject")
    assert application.status is ApplicationStatus.REJECTED


def test_a_decision_other_than_approve_or_reject_is_a_programming_error(application, park, units):
    with pytest.raises(ValueError):
        decide(application, park, units, "market_regulation", "maybe")
