"""Hostile input at onboarding's own edges: the RPC arguments added for operators and
the new optional fields of ingress events. Whatever arrives, the answer is a value or a
clear error (``InvalidRequest`` naming the field, a business rejection with a reason
code), never a crash."""

import uuid
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.onboarding import handlers, schemas
from services.onboarding.domain.admission import add_months
from services.onboarding.exceptions import InvalidRequest, NotFound
from services.onboarding.tests.unit.builders import make_park
from services.onboarding.tests.unit.fakes import FakeUnitOfWork
from services.onboarding.tests.unit.test_handlers import Calendar, submission

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=300)
@given(status=JSON, park_id=JSON, overdue_only=JSON, limit=JSON)
def test_list_applications_arguments_load_or_are_refused_by_name(
    status, park_id, overdue_only, limit
):
    try:
        args = schemas.load(
            schemas.ApplicationQuery,
            status=status,
            park_id=park_id,
            overdue_only=overdue_only,
            limit=limit,
        )
    except InvalidRequest:
        return
    assert isinstance(args["overdue_only"], bool)
    assert isinstance(args["limit"], int) and 1 <= args["limit"] <= 1000
    handlers.list_applications(**args, uow=_uow())


@settings(max_examples=300)
@given(application_id=JSON, reason=JSON)
def test_withdraw_application_arguments_load_or_are_refused_by_name(application_id, reason):
    try:
        args = schemas.load(schemas.Withdrawal, application_id=application_id, reason=reason)
    except InvalidRequest:
        return
    with pytest.raises(NotFound):  # loaded, it names no application of the empty store
        handlers.withdraw_application(args["application_id"], args["reason"], _uow())


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(
    term=st.integers(min_value=-(2**63), max_value=2**63),
    tenure=st.sampled_from(["lease", "purchase"]),
)
def test_any_lease_term_is_taken_or_rejected_with_a_reason(term, tenure):
    uow = _uow()
    handlers.receive_application(
        submission(tenure=tenure, lease_term_months=term), "test-park", uow, Calendar()
    )
    if uow.of_type("application_rejected"):
        [rejection] = uow.of_type("application_rejected")
        assert [r["code"] for r in rejection["reasons"]] == ["invalid_lease_term"]
    else:
        assert tenure == "lease" and term in (12, 24, 36, 60)


@given(
    day=st.dates(min_value=date(1900, 1, 1), max_value=date(9000, 12, 31)),
    months=st.integers(min_value=0, max_value=600),
)
def test_a_term_in_months_lands_in_the_right_month_never_past_its_end(day, months):
    later = add_months(day, months)
    assert (later.year * 12 + later.month) - (day.year * 12 + day.month) == months
    assert later.day == day.day or later.day < day.day


def _uow() -> FakeUnitOfWork:
    uow = FakeUnitOfWork()
    uow.add_park(make_park())
    return uow


def test_a_portal_withdrawal_for_any_uuid_not_known_is_retried_not_refused():
    from shared.messaging.errors import TransientFailure

    try:
        handlers.withdraw_by_applicant({"application_id": str(uuid.uuid4()), "reason": "x"}, _uow())
    except TransientFailure:
        return
    raise AssertionError("an unknown application must be retried")


# Text the contract lets through (its string fields refuse NULs and lone surrogates; a
# ``Text`` field, whitespace only).
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))
CONTENT = TEXT.filter(str.strip)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(
    department=CONTENT,
    verdict=st.sampled_from(["approve", "reject"]),
    reason=TEXT,
    known=st.booleans(),
)
def test_any_decision_is_retried_recorded_or_refused_never_a_crash(
    department, verdict, reason, known
):
    from shared.messaging.errors import TransientFailure

    uow = _uow()
    payload = submission()
    if known:
        handlers.receive_application(payload, "test-park", uow, Calendar())
    decision = {
        "application_id": payload["application_id"],
        "department": department,
        "decision": verdict,
        "reason": reason,
    }
    published = list(uow.published)

    if not known:  # not received yet: it may still come, so retried, not refused
        with pytest.raises(TransientFailure, match="is unknown"):
            handlers.decide_review(decision, uow)
        assert uow.published == published
        return
    handlers.decide_review(decision, uow)
    outcome = {e["type"] for e in uow.published[len(published) :]}
    assert outcome & {"review_decision_recorded", "review_decision_refused"}


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(documents=st.lists(CONTENT, min_size=1, max_size=5), known=st.booleans())
def test_any_documents_are_retried_or_taken_never_a_crash(documents, known):
    from shared.messaging.errors import TransientFailure

    uow = _uow()
    payload = submission(documents=())
    if known:
        handlers.receive_application(payload, "test-park", uow, Calendar())
    published = list(uow.published)
    supplied = {"application_id": payload["application_id"], "documents": documents}

    if not known:
        with pytest.raises(TransientFailure, match="is unknown"):
            handlers.supply_documents(supplied, uow)
        assert uow.published == published
        return
    handlers.supply_documents(supplied, uow)
    assert [e["type"] for e in uow.published[len(published) :]][:1] == ["documents_received"]
