from datetime import timedelta

import pytest

from services.onboarding.domain.applications import Application, ApplicationStatus
from services.onboarding.domain.events import (
    AcceptedWithDeficiencies,
    ApplicationReceived,
    ApplicationRejected,
    DuplicateSubmissionRefused,
    ReviewRequested,
)
from services.onboarding.domain.industries import IndustryRules
from services.onboarding.domain.reasons import ReasonCode
from services.onboarding.domain.units import Tenure, UnitStatus
from services.onboarding.tests.unit.builders import (
    DEPARTMENTS,
    NOW,
    calendar_days_deadline,
    make_park,
    make_submission,
    receive,
    units_of,
)


def _codes(application: Application) -> list[str]:
    return [reason.code for reason in application.rejection_reasons]


def test_a_complete_valid_application_goes_straight_to_joint_review():
    application = receive()
    assert application.status is ApplicationStatus.UNDER_REVIEW
    assert [type(e) for e in application.events] == [ApplicationReceived, ReviewRequested]
    assert application.events[-1].departments == DEPARTMENTS


def test_receipt_reserves_the_requested_units_for_the_application():
    park = make_park()
    units = units_of(park)
    receive(park, units)
    assert units["B01-1F-01"].status is UnitStatus.RESERVED
    assert units["B01-1F-01"].reserved_for == "app-1"


def test_a_requested_floor_reserves_all_its_rooms():
    park = make_park()
    units = units_of(park)
    application = receive(park, units, requested_units=("B01-2F",))
    assert application.unit_ids == ("B01-2F-01", "B01-2F-02", "B01-2F-03")
    assert all(units[u].reserved_for == "app-1" for u in application.unit_ids)


def test_missing_documents_are_accepted_with_deficiencies_and_a_deadline():
    application = receive(documents=("营业执照",))
    accepted = next(e for e in application.events if isinstance(e, AcceptedWithDeficiencies))
    assert accepted.items == ("法定代表人身份证", "环评承诺书")
    assert accepted.deadline == NOW + timedelta(days=10)
    assert application.status is ApplicationStatus.UNDER_REVIEW


def test_the_deadlines_come_from_the_injected_business_calendar():
    calls = []

    def deadline_for(now, business_days):
        calls.append((now, business_days))
        return calendar_days_deadline(now, business_days)

    park = make_park(deficiency_deadline_business_days=3, review_time_limit_business_days=15)
    submission = make_submission(documents=())
    application = Application.receive(submission, park, units_of(park), NOW, deadline_for)
    assert calls == [(NOW, 3), (NOW, 15)]  # the deficiency deadline, the review's limit
    assert application.review_due_at == calendar_days_deadline(NOW, 15)


def test_document_names_match_across_full_and_half_width_forms():
    park = make_park(required_documents=("法定代表人身份证(正反面)",))
    application = receive(park, documents=("法定代表人身份证（正反面）",))
    assert application.outstanding_items == ()


def test_a_bad_uscc_is_rejected_as_invalid_uscc():
    application = receive(uscc="91410106MA0000011X")
    assert application.status is ApplicationStatus.REJECTED
    assert set(_codes(application)) == {ReasonCode.INVALID_USCC}
    assert application.rejection_reasons[0].field == "enterprise.uscc"


def test_a_non_manufacturing_industry_is_not_admitted():
    application = receive(industry_code="F5191")
    assert _codes(application) == [ReasonCode.INDUSTRY_NOT_ADMITTED]


def test_a_non_existent_manufacturing_division_is_an_unknown_industry_code():
    assert _codes(receive(industry_code="C44")) == [ReasonCode.UNKNOWN_INDUSTRY_CODE]


def test_a_malformed_industry_code_is_an_unknown_industry_code():
    assert _codes(receive(industry_code="3464")) == [ReasonCode.UNKNOWN_INDUSTRY_CODE]


def test_an_industry_on_the_deny_list_is_not_admitted():
    park = make_park(industries=IndustryRules(allow=("C",), deny=("C34",)))
    assert _codes(receive(park)) == [ReasonCode.INDUSTRY_NOT_ADMITTED]


def test_a_unit_the_park_does_not_have_is_unknown():
    application = receive(requested_units=("B01-1F-01", "B09-1F-01"))
    assert _codes(application) == [ReasonCode.UNKNOWN_UNIT]
    assert "B09-1F-01" in application.rejection_reasons[0].message


def test_a_taken_unit_is_unavailable_and_nothing_is_reserved():
    park = make_park()
    units = units_of(park)
    units["B01-1F-02"].reserve("app-earlier")
    application = receive(park, units)
    assert _codes(application) == [ReasonCode.UNITS_UNAVAILABLE]
    assert units["B01-1F-01"].status is UnitStatus.AVAILABLE


def test_an_application_without_units_is_rejected():
    assert _codes(receive(requested_units=())) == [ReasonCode.NO_UNITS_REQUESTED]


def test_an_unknown_park_is_reported_without_checking_its_units():
    submission = make_submission(park_id="nowhere")
    application = Application.receive(submission, None, {}, NOW, calendar_days_deadline)
    assert _codes(application) == [ReasonCode.PARK_NOT_FOUND]


def test_every_rejection_reason_is_reported_at_once():
    park = make_park()
    units = units_of(park)
    units["B01-1F-01"].reserve("app-earlier")
    application = receive(
        park,
        units,
        uscc="91410106MA000001",
        industry_code="F5191",
        requested_units=("B01-1F-01", "B77-1F-01"),
    )
    assert set(_codes(application)) == {
        ReasonCode.INVALID_USCC,
        ReasonCode.INDUSTRY_NOT_ADMITTED,
        ReasonCode.UNKNOWN_UNIT,
        ReasonCode.UNITS_UNAVAILABLE,
    }


def test_a_rejection_on_receipt_records_received_then_rejected():
    application = receive(industry_code="F5191")
    assert [type(e) for e in application.events] == [ApplicationReceived, ApplicationRejected]
    assert application.events[-1].department is None


def test_the_same_submission_again_has_no_effect():
    application = receive()
    events_before = list(application.events)
    application.resubmitted(make_submission(), NOW)
    assert application.events == events_before


def test_the_same_submission_with_lists_reordered_is_still_the_same():
    application = receive()
    reordered = make_submission(requested_units=("B01-1F-02", "B01-1F-01"))
    application.resubmitted(reordered, NOW)
    assert not any(isinstance(e, DuplicateSubmissionRefused) for e in application.events)


def test_different_content_under_the_same_id_is_a_conflicting_duplicate():
    application = receive()
    application.resubmitted(make_submission(tenure=Tenure.LEASE), NOW)
    refusal = application.events[-1]
    assert isinstance(refusal, DuplicateSubmissionRefused)
    assert [r.code for r in refusal.reasons] == [ReasonCode.CONFLICTING_DUPLICATE]
    assert application.status is ApplicationStatus.UNDER_REVIEW


def test_a_naive_clock_value_is_refused():
    park = make_park()
    with pytest.raises(ValueError, match="aware UTC"):
        Application.receive(
            make_submission(),
            park,
            units_of(park),
            NOW.replace(tzinfo=None),
            calendar_days_deadline,
        )
