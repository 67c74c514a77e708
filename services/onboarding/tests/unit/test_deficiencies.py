from datetime import timedelta

import pytest

from services.onboarding.domain.applications import ApplicationStatus, Decision
from services.onboarding.domain.errors import ApplicationClosed
from services.onboarding.domain.events import (
    ApplicationSuspended,
    DeficiencyEscalated,
    DocumentsReceived,
    UnitsReleased,
)
from services.onboarding.domain.units import UnitStatus
from services.onboarding.tests.unit.builders import (
    NOW,
    admission,
    approve_all,
    make_park,
    receive,
    units_of,
)

DEADLINE = NOW + timedelta(days=10)  # the fake calendar counts every day


@pytest.fixture
def park():
    return make_park()


@pytest.fixture
def units(park):
    return units_of(park)


@pytest.fixture
def application(park, units):
    return receive(park, units, documents=("营业执照",))


def test_supplied_documents_clear_their_deficiency_items(application):
    application.supply_documents(["法定代表人身份证"], NOW)
    received = application.events[-1]
    assert isinstance(received, DocumentsReceived)
    assert received.cleared == ("法定代表人身份证",)
    assert received.outstanding == ("环评承诺书",)
    assert application.outstanding_items == ("环评承诺书",)


def test_extra_documents_are_recorded_as_unrecognised(application):
    application.supply_documents(["环评承诺书", "产品宣传册"], NOW)
    assert application.events[-1].unrecognised == ("产品宣传册",)
    assert "产品宣传册" in application.documents_on_file


def test_documents_already_on_file_change_nothing(application):
    application.supply_documents(["法定代表人身份证"], NOW)
    count = len(application.events)
    application.supply_documents(["法定代表人身份证", "营业执照"], NOW)
    assert len(application.events) == count


def test_documents_for_a_rejected_application_are_refused(application, park, units):
    application.record_decision(
        "market_regulation", Decision.REJECT, "不符合", NOW, units=units, admission=admission(park)
    )
    with pytest.raises(ApplicationClosed):
        application.supply_documents(["环评承诺书"], NOW)


def test_nothing_is_suspended_before_the_deadline(application, units):
    assert not application.suspend_if_overdue(DEADLINE - timedelta(seconds=1), units)
    assert application.status is ApplicationStatus.UNDER_REVIEW


def test_a_passed_deadline_with_items_missing_suspends_the_application(application, units):
    assert application.suspend_if_overdue(DEADLINE, units)
    suspended = next(e for e in application.events if isinstance(e, ApplicationSuspended))
    assert application.status is ApplicationStatus.SUSPENDED
    assert suspended.outstanding == ("法定代表人身份证", "环评承诺书")
    assert suspended.deadline == DEADLINE


def test_suspension_releases_the_reserved_units(application, units):
    application.suspend_if_overdue(DEADLINE, units)
    released = application.events[-1]
    assert isinstance(released, UnitsReleased)
    assert released.reason == "application_suspended"
    assert units["B01-1F-01"].status is UnitStatus.AVAILABLE


def test_suspension_happens_once(application, units):
    application.suspend_if_overdue(DEADLINE, units)
    count = len(application.events)
    assert not application.suspend_if_overdue(DEADLINE + timedelta(days=1), units)
    assert len(application.events) == count


def test_an_application_with_every_item_supplied_is_not_suspended(application, units):
    application.supply_documents(["法定代表人身份证", "环评承诺书"], NOW)
    assert not application.suspend_if_overdue(DEADLINE, units)


def test_a_decision_after_suspension_is_refused_as_closed(application, park, units):
    application.suspend_if_overdue(DEADLINE, units)
    application.record_decision(
        "market_regulation", Decision.APPROVE, "", NOW, units=units, admission=admission(park)
    )
    assert application.events[-1].code == "application_closed"


def test_the_review_admits_while_items_are_still_missing(application, park, units):
    approve_all(application, park, units)
    assert application.status is ApplicationStatus.ADMITTED
    assert application.outstanding_items == ("法定代表人身份证", "环评承诺书")


def test_an_admitted_enterprise_is_never_suspended(application, park, units):
    approve_all(application, park, units)
    assert not application.suspend_if_overdue(DEADLINE, units)
    assert application.status is ApplicationStatus.ADMITTED


def test_after_admission_each_overdue_item_escalates_to_the_service_officer(
    application, park, units
):
    approve_all(application, park, units)
    assert application.escalate_overdue_items(DEADLINE, "cso-02") == (
        "法定代表人身份证",
        "环评承诺书",
    )
    escalated = [e for e in application.events if isinstance(e, DeficiencyEscalated)]
    assert [(e.item, e.chief_service_officer) for e in escalated] == [
        ("法定代表人身份证", "cso-02"),
        ("环评承诺书", "cso-02"),
    ]
    assert escalated[0].enterprise_id == application.enterprise_id


def test_an_item_escalates_only_once(application, park, units):
    approve_all(application, park, units)
    application.escalate_overdue_items(DEADLINE, "cso-01")
    assert application.escalate_overdue_items(DEADLINE + timedelta(days=3), "cso-01") == ()


def test_an_item_supplied_after_admission_is_not_escalated(application, park, units):
    approve_all(application, park, units)
    application.supply_documents(["环评承诺书"], NOW)
    assert application.escalate_overdue_items(DEADLINE, "cso-01") == ("法定代表人身份证",)


def test_nothing_escalates_before_the_deadline(application, park, units):
    approve_all(application, park, units)
    assert application.escalate_overdue_items(DEADLINE - timedelta(hours=1), "cso-01") == ()


def test_nothing_escalates_before_admission(application):
    assert application.escalate_overdue_items(DEADLINE, "cso-01") == ()


# -- the deadline holds wherever the application is touched, not only on the timer --------


def test_the_last_approval_after_the_deadline_suspends_instead_of_admitting(
    application, park, units
):
    for department in application.review_departments:
        enterprise = application.record_decision(
            department, Decision.APPROVE, "", DEADLINE, units=units, admission=admission(park)
        )
    assert enterprise is None
    assert application.status is ApplicationStatus.SUSPENDED
    assert units["B01-1F-01"].status is UnitStatus.AVAILABLE
    assert application.events[-1].code == "application_closed"


def test_documents_arriving_after_the_deadline_do_not_rescue_the_application(application, units):
    with pytest.raises(ApplicationClosed):
        application.supply_documents(["法定代表人身份证", "环评承诺书"], DEADLINE, units=units)
    assert application.status is ApplicationStatus.SUSPENDED
    assert application.outstanding_items == ("法定代表人身份证", "环评承诺书")
    assert units["B01-1F-01"].status is UnitStatus.AVAILABLE


def test_documents_arriving_just_before_the_deadline_still_count(application, units):
    application.supply_documents(
        ["法定代表人身份证", "环评承诺书"], DEADLINE - timedelta(seconds=1), units=units
    )
    assert application.status is ApplicationStatus.UNDER_REVIEW
    assert application.outstanding_items == ()
