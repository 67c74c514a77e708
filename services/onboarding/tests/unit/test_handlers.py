"""The use cases of ``handlers/`` on an in-memory unit of work (no broker, no database)."""

import uuid
from datetime import date, timedelta

import pytest

from services.onboarding import handlers
from services.onboarding.domain.applications import ApplicationStatus
from services.onboarding.domain.units import UnitStatus
from services.onboarding.exceptions import IllegalTransition, NotFound
from services.onboarding.tests.unit.builders import (
    DEPARTMENTS,
    NOW,
    REQUIRED_DOCUMENTS,
    calendar_days_deadline,
    make_park,
    valid_uscc,
)
from services.onboarding.tests.unit.fakes import FakeUnitOfWork
from shared.messaging.errors import TransientFailure


class Calendar:
    """The business calendar handlers are given: every day is a business day."""

    add_business_days = staticmethod(calendar_days_deadline)


def submission(
    units=("B01-1F-01",), *, tenure="purchase", documents=REQUIRED_DOCUMENTS, serial=1, **extra
):
    return {
        "application_id": str(uuid.uuid4()),
        "enterprise": {
            "name": f"郑州精工机械有限公司{serial}",
            "uscc": valid_uscc(serial),
            "legal_representative": "赵强",
            "contact_phone": "13800000000",
            "industry_code": "C3464",
            "employees": 25,
        },
        "tenure": tenure,
        "requested_units": list(units),
        "documents": list(documents),
        "supply_chain_partner": True,
        **extra,
    }


def decision(application_id, department, verdict="approve", reason="ok"):
    return {
        "application_id": application_id,
        "department": department,
        "decision": verdict,
        "reason": reason,
    }


@pytest.fixture
def uow():
    fake = FakeUnitOfWork()
    fake.add_park(make_park())
    return fake


def submit(uow, payload, park_id="test-park"):
    handlers.receive_application(payload, park_id, uow, Calendar())
    return payload["application_id"]


def admit(uow, **submission_fields) -> str:
    """Submit and approve an application; returns the new enterprise's id."""
    application_id = submit(uow, submission(**submission_fields))
    for department in DEPARTMENTS:
        handlers.decide_review(decision(application_id, department), uow)
    return uow.of_type("enterprise_admitted")[-1]["enterprise_id"]


# -- receipt and review --------------------------------------------------------------------


def test_a_valid_application_reserves_its_units_and_opens_the_review(uow):
    application_id = submit(uow, submission())
    assert uow.types() == ["application_received", "review_requested"]
    assert uow.store.units[("test-park", "B01-1F-01")].reserved_for == application_id
    assert uow.commits == 1


def test_the_last_approval_admits_and_allocates(uow):
    enterprise_id = admit(uow)
    assert uow.types()[-2:] == ["enterprise_admitted", "units_allocated"]
    assert uow.store.units[("test-park", "B01-1F-01")].holder == enterprise_id


def test_a_decision_on_an_application_rejected_as_park_not_found_is_refused_as_closed(uow):
    application_id = submit(uow, submission(), park_id="no-such-park")
    assert uow.of_type("application_rejected")[0]["reasons"][0]["code"] == "park_not_found"

    handlers.decide_review(decision(application_id, "market_regulation"), uow)

    refusal = uow.of_type("review_decision_refused")
    assert [r["code"] for r in refusal] == ["application_closed"]


# Events of different types arrive in any order (DESIGN §5): an application not seen yet
# may still come, so what names one is retried, not refused.


def test_a_decision_on_an_application_not_seen_yet_is_retried(uow):
    application_id = str(uuid.uuid4())
    with pytest.raises(TransientFailure, match=f"application {application_id} is unknown"):
        handlers.decide_review(decision(application_id, "market_regulation"), uow)
    assert uow.published == []


def test_documents_for_an_application_not_seen_yet_are_retried(uow):
    application_id = str(uuid.uuid4())
    with pytest.raises(TransientFailure, match=f"application {application_id} is unknown"):
        handlers.supply_documents({"application_id": application_id, "documents": ["x"]}, uow)
    assert uow.published == []


def test_a_decision_taken_on_retry_once_its_application_arrived_is_recorded(uow):
    payload = submission()
    with pytest.raises(TransientFailure):
        handlers.decide_review(decision(payload["application_id"], "market_regulation"), uow)

    submit(uow, payload)
    handlers.decide_review(decision(payload["application_id"], "market_regulation"), uow)

    assert [d["department"] for d in uow.of_type("review_decision_recorded")] == [
        "market_regulation"
    ]
    assert uow.of_type("review_decision_refused") == []


# -- the officers' active count ----------------------------------------------------------


def end_every_lease(uow, enterprise_id):
    with uow:
        unit_ids = [u.unit_id for u in uow.units.held_by(enterprise_id)]
    return handlers.end_lease(enterprise_id, unit_ids, uow)


def officer_load(uow):
    with uow:
        return uow.enterprises.active_per_officer("test-park")


def test_an_enterprise_whose_lease_ended_is_not_active(uow):
    enterprise_id = admit(uow, tenure="lease")
    end_every_lease(uow, enterprise_id)
    assert officer_load(uow) == {}


@pytest.mark.parametrize("action", ["production start", "reassignment", "visit"])
def test_saving_a_finished_enterprise_does_not_make_it_active_again(uow, action):
    enterprise_id = admit(uow, tenure="lease")
    end_every_lease(uow, enterprise_id)
    if action == "production start":
        handlers.record_production_start(enterprise_id, date(2026, 11, 27), uow)
    elif action == "reassignment":
        officer = uow.store.enterprises[enterprise_id].chief_service_officer
        other = "cso-02" if officer == "cso-01" else "cso-01"
        handlers.reassign_chief_service_officer(enterprise_id, other, uow)
    else:
        handlers.log_service_visit(enterprise_id, "cso-01", date(2026, 11, 27), "走访", None, uow)
    assert officer_load(uow) == {}


def test_a_finished_enterprise_does_not_count_when_the_next_officer_is_chosen(uow):
    first = admit(uow, tenure="lease", units=("B01-1F-01",), serial=1)
    officer = uow.store.enterprises[first].chief_service_officer
    end_every_lease(uow, first)
    handlers.record_production_start(first, date(2026, 11, 27), uow)
    second = admit(uow, units=("B01-1F-02",), serial=2)
    assert uow.store.enterprises[second].chief_service_officer == officer


def test_a_buyback_of_every_unit_leaves_the_enterprise_inactive(uow):
    enterprise_id = admit(uow)
    handlers.settle_buyback(
        {"claim_id": str(uuid.uuid4()), "enterprise_id": enterprise_id, "units": ["B01-1F-01"]},
        uow,
    )
    assert uow.of_type("units_released")[-1]["reason"] == "buyback_settled"
    assert officer_load(uow) == {}


# -- operator actions ------------------------------------------------------------------------


def test_ending_a_lease_of_an_unknown_enterprise_is_not_found(uow):
    with pytest.raises(NotFound):
        handlers.end_lease("nobody", ["B01-1F-01"], uow)


def test_ending_a_lease_of_a_purchase_is_an_illegal_transition(uow):
    enterprise_id = admit(uow)
    with pytest.raises(IllegalTransition):
        handlers.end_lease(enterprise_id, ["B01-1F-01"], uow)
    assert uow.store.units[("test-park", "B01-1F-01")].status == UnitStatus.SOLD


def test_a_settlement_for_an_unknown_enterprise_is_refused_with_an_event(uow):
    claim_id = str(uuid.uuid4())
    handlers.settle_buyback(
        {"claim_id": claim_id, "enterprise_id": "nobody", "units": ["B01-1F-01"]},
        uow,
        park_id="test-park",
    )
    [refused] = uow.of_type("release_refused")
    assert refused["claim_id"] == claim_id and refused["units"] == ["B01-1F-01"]
    assert [r["code"] for r in refused["reasons"]] == ["unknown_enterprise"]
    assert uow.published[-1]["park_id"] == "test-park"
    assert "units_released" not in uow.types()


# -- the deadline timer ----------------------------------------------------------------------


def test_the_timer_suspends_an_application_past_its_deficiency_deadline(uow):
    application_id = submit(uow, submission(documents=REQUIRED_DOCUMENTS[:1]))
    uow.now = NOW + timedelta(days=11)
    assert handlers.process_deadlines(uow).changed == 1
    assert uow.store.applications[application_id].status == ApplicationStatus.SUSPENDED
    assert uow.store.units[("test-park", "B01-1F-01")].status == UnitStatus.AVAILABLE


def test_a_decision_after_the_deficiency_deadline_suspends_before_the_timer_runs(uow):
    application_id = submit(uow, submission(documents=REQUIRED_DOCUMENTS[:1]))
    uow.now = NOW + timedelta(days=10)
    for department in DEPARTMENTS:
        handlers.decide_review(decision(application_id, department), uow)
    assert "enterprise_admitted" not in uow.types()
    assert uow.store.applications[application_id].status == ApplicationStatus.SUSPENDED
    assert uow.of_type("units_released")[0]["reason"] == "application_suspended"
    assert {r["code"] for r in uow.of_type("review_decision_refused")} == {"application_closed"}


def test_documents_after_the_deficiency_deadline_are_refused_and_suspend(uow):
    application_id = submit(uow, submission(documents=REQUIRED_DOCUMENTS[:1]))
    uow.now = NOW + timedelta(days=10, hours=1)
    handlers.supply_documents(
        {"application_id": application_id, "documents": list(REQUIRED_DOCUMENTS)}, uow
    )
    assert uow.store.applications[application_id].status == ApplicationStatus.SUSPENDED
    assert uow.of_type("documents_refused")[0]["code"] == "application_closed"
    assert uow.store.units[("test-park", "B01-1F-01")].status == UnitStatus.AVAILABLE


def test_one_failing_application_does_not_stop_the_deadline_scan(uow):
    late = []
    for n, unit in enumerate(("B01-1F-01", "B01-1F-02", "B01-1F-03")):
        uow.now = NOW + timedelta(hours=n)  # the broken one is due first
        late_one = submission(documents=REQUIRED_DOCUMENTS[:1], serial=n, units=(unit,))
        late.append(submit(uow, late_one))
    uow.store.broken.add(late[0])
    uow.now = NOW + timedelta(days=11)

    scan = handlers.process_deadlines(uow, batch=1)

    assert scan.failed == [late[0]]
    assert scan.changed == 2
    statuses = {a: uow.store.applications[a].status for a in late}
    assert statuses == {
        late[0]: ApplicationStatus.UNDER_REVIEW,
        late[1]: ApplicationStatus.SUSPENDED,
        late[2]: ApplicationStatus.SUSPENDED,
    }
    uow.store.broken.clear()
    assert handlers.process_deadlines(uow).changed == 1
    assert uow.store.applications[late[0]].status == ApplicationStatus.SUSPENDED


def test_a_failing_application_in_the_scan_is_counted_in_a_metric(uow):
    from services.onboarding.service import DEADLINE_FAILURES, OnboardingService

    application_id = submit(uow, submission(documents=REQUIRED_DOCUMENTS[:1]))
    uow.store.broken.add(application_id)
    uow.now = NOW + timedelta(days=11)
    before = DEADLINE_FAILURES._value.get()

    class Entrypoint:
        pass

    service = Entrypoint()
    service.uow = uow
    OnboardingService.scan_deadlines(service)

    assert DEADLINE_FAILURES._value.get() == before + 1


# -- buyback release ------------------------------------------------------------------------


def settlement(enterprise_id, units, claim_id=None):
    claim_id = claim_id or str(uuid.uuid4())
    return {"claim_id": claim_id, "enterprise_id": enterprise_id, "units": units}


def refusal_of(uow, claim):
    [refused] = [r for r in uow.of_type("release_refused") if r["claim_id"] == claim["claim_id"]]
    return refused


def test_a_settlement_naming_an_available_unit_never_held_is_refused_whole(uow):
    enterprise_id = admit(uow, units=("B01-1F-01",))
    claim = settlement(enterprise_id, ["B01-1F-01", "B01-1F-02"])
    handlers.settle_buyback(claim, uow)  # a business outcome: an event, no dead letter
    refused = refusal_of(uow, claim)
    assert refused["enterprise_id"] == enterprise_id
    assert refused["units"] == ["B01-1F-01", "B01-1F-02"]
    [reason] = refused["reasons"]
    assert reason["code"] == "units_not_owned" and reason["field"] == "units"
    assert "B01-1F-02 (available now" in reason["message"]
    assert uow.store.units[("test-park", "B01-1F-01")].status == UnitStatus.SOLD
    assert "units_released" not in uow.types()


def test_the_same_refused_settlement_again_is_refused_again_and_changes_nothing(uow):
    enterprise_id = admit(uow, units=("B01-1F-01",))
    claim = settlement(enterprise_id, ["B01-1F-02"])
    handlers.settle_buyback(claim, uow)
    handlers.settle_buyback(claim, uow)
    assert len(uow.of_type("release_refused")) == 2  # buyback records the first only
    assert uow.store.units[("test-park", "B01-1F-01")].status == UnitStatus.SOLD


def test_a_unit_already_bought_back_by_another_claim_is_refused(uow):
    enterprise_id = admit(uow, units=("B01-1F-01", "B01-1F-02"))
    handlers.settle_buyback(settlement(enterprise_id, ["B01-1F-01"]), uow)
    claim = settlement(enterprise_id, ["B01-1F-01", "B01-1F-02"])
    handlers.settle_buyback(claim, uow)
    assert "B01-1F-01 (available now" in refusal_of(uow, claim)["reasons"][0]["message"]
    assert uow.store.units[("test-park", "B01-1F-02")].status == UnitStatus.SOLD


def test_a_release_names_the_contract_the_units_were_held_under(uow):
    enterprise_id = admit(uow, units=("B01-1F-01",))
    [allocated] = uow.of_type("units_allocated")
    handlers.settle_buyback(settlement(enterprise_id, ["B01-1F-01"]), uow)
    [released] = uow.of_type("units_released")
    assert released["contract_id"] == allocated["contract_id"]


def test_a_lease_end_names_the_leases_contract(uow):
    enterprise_id = admit(uow, tenure="lease", units=("B01-1F-01",))
    [allocated] = uow.of_type("units_allocated")
    end_every_lease(uow, enterprise_id)
    [released] = uow.of_type("units_released")
    assert released["reason"] == "lease_ended"
    assert released["contract_id"] == allocated["contract_id"]


def test_units_only_reserved_are_released_without_a_contract(uow):
    application_id = submit(uow, submission())
    handlers.decide_review(decision(application_id, DEPARTMENTS[0], "reject"), uow)
    [released] = uow.of_type("units_released")
    assert released["contract_id"] is None


def test_the_same_claim_settled_again_changes_nothing(uow):
    enterprise_id = admit(uow, units=("B01-1F-01",))
    claim = settlement(enterprise_id, ["B01-1F-01"])
    handlers.settle_buyback(claim, uow)
    handlers.settle_buyback(claim, uow)
    assert len(uow.of_type("units_released")) == 1


# -- one enterprise per USCC -------------------------------------------------------------------


def test_a_second_application_of_an_admitted_enterprise_joins_the_same_enterprise(uow):
    first = admit(uow, units=("B01-1F-01",), serial=7)
    second = admit(uow, units=("B01-1F-02",), serial=7)

    assert second == first
    assert list(uow.store.enterprises) == [first]
    allocated = uow.of_type("units_allocated")
    assert [a["enterprise_id"] for a in allocated] == [first, first]
    assert allocated[1]["units"][0]["unit_id"] == "B01-1F-02"
    with uow:
        assert uow.enterprises.get(first).unit_ids == ("B01-1F-01", "B01-1F-02")
    assert uow.store.units[("test-park", "B01-1F-02")].holder == first


def test_an_application_while_another_of_the_same_uscc_is_pending_is_rejected(uow):
    pending = submit(uow, submission(units=("B01-1F-01",), serial=8))
    second = submit(uow, submission(units=("B01-1F-02",), serial=8))

    [rejection] = uow.of_type("application_rejected")
    assert rejection["application_id"] == second
    assert rejection["reasons"][0]["code"] == "application_pending"
    assert pending in rejection["reasons"][0]["message"]
    assert uow.store.units[("test-park", "B01-1F-02")].status == UnitStatus.AVAILABLE


def test_an_application_after_the_pending_one_was_rejected_is_taken(uow):
    pending = submit(uow, submission(units=("B01-1F-01",), serial=9))
    handlers.decide_review(decision(pending, DEPARTMENTS[0], "reject", "不符合"), uow)
    submit(uow, submission(units=("B01-1F-02",), serial=9))
    assert len(uow.of_type("application_rejected")) == 1
    assert len(uow.of_type("review_requested")) == 2


# -- lease terms -------------------------------------------------------------------------------


def test_a_lease_is_allocated_for_the_term_applied_for(uow):
    admit(uow, tenure="lease", lease_term_months=24)
    [allocated] = uow.of_type("units_allocated")
    assert (allocated["lease_start"], allocated["lease_end"]) == ("2026-11-27", "2028-11-27")
    assert uow.store.units[("test-park", "B01-1F-01")].lease_ends_on == date(2028, 11, 27)


def test_a_lease_without_a_term_gets_the_park_s_shortest(uow):
    admit(uow, tenure="lease")
    [allocated] = uow.of_type("units_allocated")
    assert allocated["lease_end"] == "2027-11-27"


def test_a_purchase_has_no_lease_dates(uow):
    admit(uow)
    [allocated] = uow.of_type("units_allocated")
    assert allocated["lease_start"] is None and allocated["lease_end"] is None


@pytest.mark.parametrize(
    ("tenure", "term"), [("lease", 13), ("lease", 0), ("purchase", 12)], ids=str
)
def test_a_lease_term_the_park_does_not_offer_is_rejected(uow, tenure, term):
    submit(uow, submission(tenure=tenure, lease_term_months=term))
    [rejection] = uow.of_type("application_rejected")
    assert [r["code"] for r in rejection["reasons"]] == ["invalid_lease_term"]
    assert rejection["reasons"][0]["field"] == "lease_term_months"


def test_a_lease_ends_on_its_own_on_its_end_date(uow):
    enterprise_id = admit(uow, tenure="lease", lease_term_months=12)
    uow.now = NOW + timedelta(days=364)  # 2027-11-26, the day before
    handlers.process_deadlines(uow)
    assert "units_released" not in uow.types()

    uow.now = NOW + timedelta(days=365)  # 2027-11-27 10:00 park time
    assert handlers.process_deadlines(uow).changed == 1

    [released] = uow.of_type("units_released")
    assert released["reason"] == "lease_ended"
    assert released["enterprise_id"] == enterprise_id
    assert uow.store.units[("test-park", "B01-1F-01")].status == UnitStatus.AVAILABLE
    assert officer_load(uow) == {}
    assert handlers.process_deadlines(uow).changed == 0


# -- review time limit and withdrawal ----------------------------------------------------------


def test_a_review_past_the_park_s_time_limit_is_escalated_once(uow):
    application_id = submit(uow, submission())
    handlers.decide_review(decision(application_id, DEPARTMENTS[0]), uow)
    uow.now = NOW + timedelta(days=20) - timedelta(seconds=1)
    assert handlers.process_deadlines(uow).changed == 0

    uow.now = NOW + timedelta(days=20)
    assert handlers.process_deadlines(uow).changed == 1
    assert handlers.process_deadlines(uow).changed == 0

    [overdue] = uow.of_type("review_overdue")
    assert overdue["application_id"] == application_id
    assert overdue["pending_departments"] == list(DEPARTMENTS[1:])
    assert overdue["due_at"] == "2026-12-17T02:00:00Z"
    assert uow.store.applications[application_id].status == ApplicationStatus.UNDER_REVIEW


def test_an_operator_withdraws_an_application_and_its_units_are_released(uow):
    application_id = submit(uow, submission())
    handlers.withdraw_application(application_id, "企业放弃入园", uow)

    [withdrawn] = uow.of_type("application_withdrawn")
    assert withdrawn == {
        "application_id": application_id,
        "reason": "企业放弃入园",
        "withdrawn_by": "operator",
    }
    assert uow.of_type("units_released")[0]["reason"] == "application_withdrawn"
    assert uow.store.units[("test-park", "B01-1F-01")].status == UnitStatus.AVAILABLE
    assert uow.store.applications[application_id].status == ApplicationStatus.WITHDRAWN


def test_a_decision_after_withdrawal_is_refused_as_closed(uow):
    application_id = submit(uow, submission())
    handlers.withdraw_application(application_id, "放弃", uow)
    handlers.decide_review(decision(application_id, DEPARTMENTS[0]), uow)
    assert uow.of_type("review_decision_refused")[0]["code"] == "application_closed"


def test_an_operator_cannot_withdraw_an_admitted_or_unknown_application(uow):
    admit(uow)
    admitted = uow.of_type("enterprise_admitted")[0]["application_id"]
    with pytest.raises(IllegalTransition, match="application_closed"):
        handlers.withdraw_application(admitted, "放弃", uow)
    with pytest.raises(NotFound, match="unknown_application"):
        handlers.withdraw_application(str(uuid.uuid4()), "放弃", uow)


def test_the_applicant_withdraws_through_the_portal(uow):
    application_id = submit(uow, submission())
    handlers.withdraw_by_applicant({"application_id": application_id, "reason": "改选他园"}, uow)
    [withdrawn] = uow.of_type("application_withdrawn")
    assert withdrawn["withdrawn_by"] == "applicant"
    assert uow.store.units[("test-park", "B01-1F-01")].status == UnitStatus.AVAILABLE


def test_a_portal_withdrawal_of_a_closed_application_is_refused_with_a_reason(uow):
    application_id = submit(uow, submission())
    handlers.withdraw_by_applicant({"application_id": application_id, "reason": "a"}, uow)
    handlers.withdraw_by_applicant({"application_id": application_id, "reason": "b"}, uow)
    [refused] = uow.of_type("withdrawal_refused")
    assert refused["code"] == "application_closed"


def test_a_portal_withdrawal_of_an_application_not_seen_yet_is_retried(uow):
    # Events of different types arrive in any order: the submission may still come.
    with pytest.raises(TransientFailure):
        handlers.withdraw_by_applicant({"application_id": str(uuid.uuid4()), "reason": "a"}, uow)
    assert uow.published == []


# -- operators' views --------------------------------------------------------------------------


def test_applications_are_listed_by_status_and_park(uow):
    pending = submit(uow, submission(units=("B01-1F-01",), serial=1))
    rejected = submit(uow, submission(units=("B01-1F-02",), serial=2), park_id="no-such-park")

    listed = handlers.list_applications(None, None, False, uow)
    assert {a["application_id"]: a["status"] for a in listed} == {
        pending: "under_review",
        rejected: "rejected",
    }
    [row] = handlers.list_applications("under_review", "test-park", False, uow)
    assert row["application_id"] == pending
    assert row["uscc"] == valid_uscc(1)
    assert row["review_due_at"] == "2026-12-17T02:00:00Z"
    assert row["overdue"] is False
    assert handlers.list_applications(None, "no-such-park", False, uow)[0]["status"] == "rejected"


def test_only_overdue_applications_are_listed_on_request(uow):
    late = submit(uow, submission(units=("B01-1F-01",), serial=1))
    uow.now = NOW + timedelta(days=5)
    submit(uow, submission(units=("B01-1F-02",), serial=2))
    uow.now = NOW + timedelta(days=20)  # the first one's review limit

    [row] = handlers.list_applications(None, None, True, uow)
    assert (row["application_id"], row["overdue"]) == (late, True)
    handlers.process_deadlines(uow)  # announcing it overdue does not end it being overdue
    assert [r["application_id"] for r in handlers.list_applications(None, None, True, uow)] == [
        late
    ]


def test_the_officer_workload_counts_active_and_all_enterprises_per_officer(uow):
    first = admit(uow, units=("B01-1F-01",), serial=1, tenure="lease")
    admit(uow, units=("B01-1F-02",), serial=2)
    end_every_lease(uow, first)

    workload = handlers.officer_workload("test-park", uow)

    assert workload == {
        "park_id": "test-park",
        "officers": [
            {"officer_id": "cso-01", "name": "张伟", "active": 0, "total": 1},
            {"officer_id": "cso-02", "name": "李娜", "active": 1, "total": 1},
        ],
    }
    with pytest.raises(NotFound, match="park_not_found"):
        handlers.officer_workload("no-such-park", uow)


def test_a_portal_withdrawal_after_the_deficiency_deadline_finds_the_application_suspended(uow):
    application_id = submit(uow, submission(documents=REQUIRED_DOCUMENTS[:1]))
    uow.now = NOW + timedelta(days=10)
    handlers.withdraw_by_applicant({"application_id": application_id, "reason": "晚了"}, uow)
    assert uow.store.applications[application_id].status == ApplicationStatus.SUSPENDED
    assert uow.of_type("withdrawal_refused")[0]["code"] == "application_closed"
    assert uow.of_type("units_released")[0]["reason"] == "application_suspended"
