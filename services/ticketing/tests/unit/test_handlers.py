"""The ticketing use cases on an in-memory unit of work (``fake_uow``): firms, the
enterprise projection, requests, routing, reports, reviews, ratings and the SLA scan.

Every staged message is checked against the contract as the real outbox checks it.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from services.ticketing import handlers, schemas
from services.ticketing.domain.catalogue import FirmKind
from services.ticketing.domain.firm_directory import Contact, Firm, FirmId
from services.ticketing.domain.reasons import ReasonCode
from services.ticketing.exceptions import InvalidRequest, NotFound
from services.ticketing.tests.unit.fake_uow import NOW, FakeUnitOfWork
from shared.contract import build
from shared.contract.registry import REGISTRY
from shared.messaging.errors import PermanentFailure, TransientFailure

PARK = "aux-shangjie"


def firm(firm_id: str, kind: str = "legal", skills=("labour_law", "mediation"), capacity=5):
    return Firm(
        firm_id=FirmId(firm_id),
        name=f"{firm_id} 事务所",
        kind=FirmKind(kind),
        skills=frozenset(skills),
        capacity=capacity,
        contact=Contact("周正", "0371-6812-0101"),
    )


def admitted(enterprise_id: str = "ent-1", *, env: bool = False) -> dict:
    return {
        "application_id": str(uuid.uuid4()),
        "enterprise_id": enterprise_id,
        "enterprise_name": "郑州测试机械有限公司",
        "uscc": "91410100000000001X",
        "industry_code": "C3464",
        "tenure": "purchase",
        "supply_chain_partner": True,
        "environmental_review_required": env,
        "chief_service_officer": "officer-7",
        "legal_representative": "王建国",
        "contact_phone": "13803710000",
    }


def service_request(enterprise_id: str = "ent-1", code: str = "LEGAL-03", **overrides) -> dict:
    return {
        "request_id": str(uuid.uuid4()),
        "enterprise_id": enterprise_id,
        "service_code": code,
        "description": "劳动争议需要调解",
        "priority": "normal",
        **overrides,
    }


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork()


def admit(uow, enterprise_id="ent-1", env=False):
    handlers.admit_enterprise(admitted(enterprise_id, env=env), PARK, uow)


def work_for(uow, firm_id):
    return [m for m in uow.sent("work_assigned") if m["routing_key"] == firm_id]


# -- firms ------------------------------------------------------------------------------


def test_a_registered_firm_is_listed_with_its_load(uow):
    handlers.register_firm(uow, firm("zhengheng-law"), NOW, park_id=PARK)
    [listed] = handlers.list_firms(uow)
    assert listed["firm_id"] == "zhengheng-law"
    assert listed["active"] is True and listed["open_tickets"] == 0
    assert listed["park_id"] == PARK and listed["kind"] == "legal"


def test_registering_again_updates_the_firm_and_keeps_it_one(uow):
    handlers.register_firm(uow, firm("zhengheng-law", capacity=5), NOW, park_id=PARK)
    result = handlers.register_firm(uow, firm("zhengheng-law", capacity=9), NOW)
    assert result["created"] is False
    [listed] = handlers.list_firms(uow)
    assert listed["capacity"] == 9 and listed["park_id"] == PARK


def test_a_ticket_waits_unassigned_then_goes_to_a_firm_when_one_is_added(uow):
    admit(uow)
    ticket = handlers.request_service(service_request(), PARK, uow)
    assert uow.sent("ticket_opened") and not uow.sent("ticket_assigned")
    assert handlers.get_ticket(ticket.ticket_id, uow)["status"] == "open"

    result = handlers.register_firm(uow, firm("zhengheng-law"), NOW, park_id=PARK)

    assert result["routed_tickets"] == [ticket.ticket_id]
    [item] = work_for(uow, "zhengheng-law")
    assert item["exchange"] == "ticketing.work"
    assert item["payload"]["enterprise"]["legal_representative"] == "王建国"
    assert handlers.get_ticket(ticket.ticket_id, uow)["firm_id"] == "zhengheng-law"


def test_disabling_a_firm_moves_its_tickets_and_withdraws_its_work(uow):
    admit(uow)
    handlers.register_firm(uow, firm("a-law"), NOW, park_id=PARK)
    ticket = handlers.request_service(service_request(), PARK, uow)
    assert handlers.get_ticket(ticket.ticket_id, uow)["firm_id"] == "a-law"
    handlers.register_firm(uow, firm("b-law"), NOW, park_id=PARK)

    result = handlers.disable_firm(uow, "a-law", "licence suspended", NOW)

    assert result["reassigned_tickets"] == [ticket.ticket_id]
    [withdrawn] = uow.sent("work_withdrawn")
    assert withdrawn["routing_key"] == "a-law"
    assert withdrawn["payload"]["reason"] == "firm_disabled"
    assert work_for(uow, "b-law")
    [moved] = uow.sent("ticket_reassigned")
    assert moved["payload"]["why"] == "firm_disabled"
    listed = {f["firm_id"]: f for f in handlers.list_firms(uow)}
    assert listed["a-law"]["active"] is False
    assert listed["a-law"]["disabled_reason"] == "licence suspended"


def test_disabling_the_only_firm_puts_its_tickets_back_to_waiting(uow):
    admit(uow)
    handlers.register_firm(uow, firm("a-law"), NOW, park_id=PARK)
    ticket = handlers.request_service(service_request(), PARK, uow)
    handlers.disable_firm(uow, "a-law", "closed", NOW)
    assert handlers.get_ticket(ticket.ticket_id, uow)["status"] == "open"
    # and a disabled firm is not routed to again
    handlers.request_service(service_request(), PARK, uow)
    assert len(work_for(uow, "a-law")) == 1


def test_disabling_an_unknown_firm_is_not_found(uow):
    with pytest.raises(NotFound):
        handlers.disable_firm(uow, "ghost-law", "x", NOW)


# -- requests ---------------------------------------------------------------------------


def test_a_request_of_an_unknown_enterprise_is_retried_not_rejected(uow):
    with pytest.raises(TransientFailure):
        handlers.request_service(service_request("ent-404"), PARK, uow)
    assert uow.sent() == []


GRACE = timedelta(minutes=30)


def test_an_unknown_enterprise_is_retried_up_to_the_grace_then_rejected(uow):
    # at the boundary (exactly the grace old): still retried
    with pytest.raises(TransientFailure):
        handlers.request_service(
            service_request("ent-404"), PARK, uow, occurred_at=NOW - GRACE, grace=GRACE
        )
    assert uow.sent() == []
    # a request in the future of the clock (skew) is retried too
    with pytest.raises(TransientFailure):
        handlers.request_service(
            service_request("ent-404"), PARK, uow, occurred_at=NOW + GRACE, grace=GRACE
        )
    # older than the grace: rejected, enterprise_not_admitted
    late = service_request("ent-404")
    older = NOW - GRACE - timedelta(microseconds=1)
    assert handlers.request_service(late, PARK, uow, occurred_at=older, grace=GRACE) is None
    [rejected] = uow.sent("service_request_rejected")
    assert rejected["payload"]["request_id"] == late["request_id"]
    assert [r["code"] for r in rejected["payload"]["reasons"]] == ["enterprise_not_admitted"]


def test_the_default_grace_is_thirty_minutes_shorter_than_the_default_ladder(uow):
    from shared.messaging.topology import DEFAULT_RETRY_DELAYS

    assert timedelta(seconds=1800) == handlers.UNKNOWN_ENTERPRISE_GRACE
    assert handlers.UNKNOWN_ENTERPRISE_GRACE.total_seconds() < sum(DEFAULT_RETRY_DELAYS)
    with pytest.raises(TransientFailure):
        handlers.request_service(
            service_request("ent-404"), PARK, uow, occurred_at=NOW - timedelta(seconds=1800)
        )
    handlers.request_service(
        service_request("ent-404"), PARK, uow, occurred_at=NOW - timedelta(seconds=1801)
    )
    assert len(uow.sent("service_request_rejected")) == 1


def test_an_old_request_of_a_known_enterprise_opens_its_ticket(uow):
    admit(uow)
    ticket = handlers.request_service(
        service_request(), PARK, uow, occurred_at=NOW - timedelta(days=3), grace=GRACE
    )
    assert ticket is not None and uow.sent("service_request_rejected") == []


def test_an_invalid_request_is_rejected_with_every_reason(uow):
    handlers.request_service(service_request("ent-404", code="NOPE-01"), PARK, uow)
    [rejected] = uow.sent("service_request_rejected")
    codes = {r["code"] for r in rejected["payload"]["reasons"]}
    assert codes == {"enterprise_not_admitted", "unknown_service_code"}


def test_a_repeated_request_opens_one_ticket_and_a_conflicting_one_is_rejected(uow):
    admit(uow)
    payload = service_request()
    handlers.request_service(payload, PARK, uow)
    assert handlers.request_service(payload, PARK, uow) is None
    assert len(uow.sent("ticket_opened")) == 1
    handlers.request_service({**payload, "description": "另一件事"}, PARK, uow)
    [rejected] = uow.sent("service_request_rejected")
    assert rejected["payload"]["reasons"][0]["code"] == "conflicting_duplicate"


def test_routing_prefers_the_least_loaded_firm_and_breaks_ties_round_robin(uow):
    admit(uow)
    for name in ("a-law", "b-law", "c-law"):
        handlers.register_firm(uow, firm(name), NOW, park_id=PARK)
    firms = [handlers.request_service(service_request(), PARK, uow).firm_id for _ in range(6)]
    assert sorted(firms[:3]) == ["a-law", "b-law", "c-law"]
    assert sorted(firms[3:]) == ["a-law", "b-law", "c-law"]


def test_routing_needs_the_kind_and_every_skill(uow):
    admit(uow)
    handlers.register_firm(uow, firm("no-mediation", skills=("labour_law",)), NOW, park_id=PARK)
    handlers.register_firm(
        uow, firm("acct", kind="accounting", skills=("labour_law", "mediation")), NOW, park_id=PARK
    )
    ticket = handlers.request_service(service_request(), PARK, uow)
    assert ticket.firm_id is None


# -- reports ----------------------------------------------------------------------------


def report(uow, type_, ticket_id, firm_id, **payload):
    return handlers.apply_firm_report(
        type_, {"ticket_id": ticket_id, "note": "", **payload}, f"firm-{firm_id}", uow
    )


def test_decline_reroutes_to_another_firm_never_back(uow):
    admit(uow)
    handlers.register_firm(uow, firm("a-law"), NOW, park_id=PARK)
    handlers.register_firm(uow, firm("b-law"), NOW, park_id=PARK)
    ticket = handlers.request_service(service_request(), PARK, uow)
    first = ticket.firm_id
    other = "b-law" if first == "a-law" else "a-law"
    report(uow, "work_declined", ticket.ticket_id, first)
    assert handlers.get_ticket(ticket.ticket_id, uow)["firm_id"] == other
    report(uow, "work_declined", ticket.ticket_id, other)
    view = handlers.get_ticket(ticket.ticket_id, uow)
    assert view["status"] == "open" and view["firm_id"] is None


def test_a_former_assignees_stale_report_is_a_security_event_saying_so(uow):
    admit(uow)
    handlers.register_firm(uow, firm("a-law"), NOW, park_id=PARK)
    handlers.register_firm(uow, firm("b-law"), NOW, park_id=PARK)
    ticket = handlers.request_service(service_request(), PARK, uow)
    first = ticket.firm_id
    report(uow, "work_declined", ticket.ticket_id, first)
    with capture_logs() as logs, pytest.raises(PermanentFailure, match="firm_declined"):
        report(uow, "work_completed", ticket.ticket_id, first, outcome="done")
    [security] = [entry for entry in logs if entry["event"] == "security_event"]
    assert security["sender"] == f"firm-{first}" and security["code"] == "firm_declined"
    assert security["stale_report_from_former_assignee"] is True
    assert security["ticket_id"] == ticket.ticket_id


def test_a_report_from_another_firm_is_refused_and_changes_nothing(uow):
    admit(uow)
    handlers.register_firm(uow, firm("a-law"), NOW, park_id=PARK)
    ticket = handlers.request_service(service_request(), PARK, uow)
    before = len(uow.sent())
    with capture_logs() as logs, pytest.raises(PermanentFailure, match="not_assignee"):
        report(uow, "work_completed", ticket.ticket_id, "b-law", outcome="done")
    [security] = [entry for entry in logs if entry["event"] == "security_event"]
    assert security["sender"] == "firm-b-law" and security["code"] == "not_assignee"
    assert security["stale_report_from_former_assignee"] is False
    with pytest.raises(PermanentFailure, match="missing_sender"):
        handlers.apply_firm_report(
            "work_accepted", {"ticket_id": ticket.ticket_id, "note": ""}, None, uow
        )
    with pytest.raises(PermanentFailure, match="not_assignee"):
        report(uow, "work_accepted", "no-such-ticket", "a-law")
    assert len(uow.sent()) == before
    assert handlers.get_ticket(ticket.ticket_id, uow)["status"] == "assigned"


def test_completion_before_acceptance_resolves_and_the_late_accept_is_absorbed(uow):
    admit(uow)
    handlers.register_firm(uow, firm("a-law"), NOW, park_id=PARK)
    ticket = handlers.request_service(service_request(), PARK, uow)
    assert report(uow, "work_completed", ticket.ticket_id, "a-law", outcome="done")
    assert not report(uow, "work_accepted", ticket.ticket_id, "a-law")
    types = [m["type"] for m in uow.sent()]
    assert types.count("ticket_accepted") == 1 and types.count("ticket_resolved") == 1


def test_waiting_on_the_enterprise_pauses_until_it_replies(uow):
    admit(uow)
    handlers.register_firm(uow, firm("a-law"), NOW, park_id=PARK)
    ticket = handlers.request_service(service_request(), PARK, uow)
    report(uow, "work_progressed", ticket.ticket_id, "a-law", waiting_on_enterprise=True)
    assert handlers.get_ticket(ticket.ticket_id, uow)["status"] == "waiting_on_enterprise"
    assert handlers.reply_to_ticket({"ticket_id": ticket.ticket_id, "message": "附件已补"}, uow)
    assert handlers.get_ticket(ticket.ticket_id, uow)["status"] == "in_progress"


# -- ratings ----------------------------------------------------------------------------


def test_a_rating_closes_a_resolved_ticket_once(uow):
    admit(uow)
    handlers.register_firm(uow, firm("a-law"), NOW, park_id=PARK)
    ticket = handlers.request_service(service_request(), PARK, uow)
    rating = {"ticket_id": ticket.ticket_id, "score": 5, "comment": "很好"}
    with pytest.raises(TransientFailure):
        handlers.rate_ticket(rating, uow)
    report(uow, "work_completed", ticket.ticket_id, "a-law", outcome="done")
    assert handlers.rate_ticket(rating, uow)
    assert not handlers.rate_ticket(rating, uow)
    with pytest.raises(PermanentFailure, match="already_rated"):
        handlers.rate_ticket({**rating, "score": 1}, uow)
    assert handlers.get_ticket(ticket.ticket_id, uow)["status"] == "closed"
    [closed] = uow.sent("ticket_closed")
    assert closed["payload"]["why"] == "rated"


# -- reviews ----------------------------------------------------------------------------


def review_request(claim_id, reviews=("legal", "finance")):
    return {
        "claim_id": claim_id,
        "enterprise_id": "ent-1",
        "reviews": list(reviews),
        "reason": "经营困难",
        "evidence": ["财务报表"],
    }


def withdrawal(claim_id):
    return {"claim_id": claim_id, "enterprise_id": "ent-1", "reason": "不再需要"}


def test_claim_reviews_open_once_and_a_withdrawal_cancels_them(uow):
    admit(uow)
    handlers.register_firm(uow, firm("a-law", skills=("buyback_review",)), NOW, park_id=PARK)
    claim = str(uuid.uuid4())
    opened = handlers.open_claim_reviews(review_request(claim), PARK, uow)
    assert {t.review.value for t in opened} == {"legal", "finance"}
    assert handlers.open_claim_reviews(review_request(claim), PARK, uow) == []
    handlers.cancel_claim_reviews(
        {"claim_id": claim, "enterprise_id": "ent-1", "reason": "x"}, PARK, uow
    )
    assert len(uow.sent("ticket_cancelled")) == 2
    [withdrawn] = uow.sent("work_withdrawn")  # only the legal one had a firm
    assert withdrawn["routing_key"] == "a-law"


def test_a_review_requested_after_its_claim_was_withdrawn_opens_nothing(uow):
    admit(uow)
    claim = str(uuid.uuid4())
    handlers.cancel_claim_reviews(
        {"claim_id": claim, "enterprise_id": "ent-1", "reason": "x"}, PARK, uow
    )
    assert handlers.open_claim_reviews(review_request(claim), PARK, uow) == []
    assert uow.sent("ticket_opened") == []


def test_a_claim_rejected_by_one_review_cancels_the_other_still_at_its_firm(uow):
    admit(uow)
    handlers.register_firm(uow, firm("a-law", skills=("buyback_review",)), NOW, park_id=PARK)
    handlers.register_firm(
        uow, firm("b-fin", kind="finance", skills=("buyback_review",)), NOW, park_id=PARK
    )
    claim = str(uuid.uuid4())
    opened = handlers.open_claim_reviews(review_request(claim), PARK, uow)
    legal, finance = ({t.review.value: t for t in opened}[r] for r in ("legal", "finance"))
    report(uow, "work_completed", legal.ticket_id, "a-law", outcome="reject", reasons=["产权不清"])
    rejection = {
        "claim_id": claim,
        "enterprise_id": "ent-1",
        "rejected_by": ["legal"],
        "reasons": ["legal: 产权不清"],
    }
    cancelled = handlers.cancel_claim_reviews(rejection, PARK, uow, why="claim_rejected")
    assert [t.ticket_id for t in cancelled] == [finance.ticket_id]
    [event] = uow.sent("ticket_cancelled")
    assert event["payload"]["ticket_id"] == finance.ticket_id
    assert event["payload"]["reason"] == "claim_rejected"
    [withdrawn] = uow.sent("work_withdrawn")
    assert withdrawn["routing_key"] == "b-fin"
    # A redelivered rejection changes nothing more; a late review request opens nothing.
    assert handlers.cancel_claim_reviews(rejection, PARK, uow, why="claim_rejected") == []
    assert handlers.open_claim_reviews(review_request(claim), PARK, uow) == []


def test_a_review_outcome_reaches_ticket_resolved(uow):
    admit(uow)
    handlers.register_firm(uow, firm("a-law", skills=("buyback_review",)), NOW, park_id=PARK)
    claim = str(uuid.uuid4())
    [legal] = handlers.open_claim_reviews(review_request(claim, ["legal"]), PARK, uow)
    report(uow, "work_completed", legal.ticket_id, "a-law", outcome="reject", reasons=["产权不清"])
    [resolved] = uow.sent("ticket_resolved")
    assert resolved["payload"]["claim_id"] == claim
    assert resolved["payload"]["review"] == "legal"
    assert resolved["payload"]["outcome"] == "reject"
    assert resolved["payload"]["reasons"] == ["产权不清"]


def test_an_environmental_review_is_opened_once_on_admission_when_required(uow):
    admit(uow, env=True)
    admit(uow, env=True)
    [opened] = uow.sent("ticket_opened")
    assert opened["payload"]["origin"] == "admission"
    admit(uow, "ent-2", env=False)
    assert len(uow.sent("ticket_opened")) == 1


# -- SLA --------------------------------------------------------------------------------


def test_the_sla_scan_warns_breaches_escalates_and_auto_closes(uow):
    admit(uow)
    handlers.register_firm(uow, firm("a-law"), NOW, park_id=PARK)
    ticket = handlers.request_service(service_request(), PARK, uow)  # 4 h first response
    assert handlers.scan_sla(uow).checked == 0
    uow.now = NOW + timedelta(hours=4, minutes=30)  # 14:30: 3.5 of 4 business hours
    handlers.scan_sla(uow)
    [warning] = uow.sent("sla_warning")
    assert warning["payload"]["clock"] == "first_response"
    uow.now = NOW + timedelta(hours=6)  # 16:00: 5 business hours
    handlers.scan_sla(uow)
    [breach] = uow.sent("sla_breached")
    [escalated] = uow.sent("ticket_escalated")
    assert escalated["payload"]["chief_service_officer"] == "officer-7"
    assert breach["payload"]["ticket_id"] == ticket.ticket_id
    handlers.scan_sla(uow)
    assert len(uow.sent("sla_breached")) == 1  # once per clock

    report(uow, "work_completed", ticket.ticket_id, "a-law", outcome="done")
    uow.now = NOW + timedelta(days=7)
    handlers.scan_sla(uow)
    [closed] = uow.sent("ticket_closed")
    assert closed["payload"]["why"] == "auto_closed"


def test_figures_per_firm_and_per_service(uow):
    admit(uow)
    handlers.register_firm(uow, firm("a-law"), NOW, park_id=PARK)
    ticket = handlers.request_service(service_request(), PARK, uow)
    uow.now = NOW + timedelta(hours=1)
    report(uow, "work_accepted", ticket.ticket_id, "a-law")
    uow.now = NOW + timedelta(hours=2)
    report(uow, "work_completed", ticket.ticket_id, "a-law", outcome="done")
    handlers.rate_ticket({"ticket_id": ticket.ticket_id, "score": 4, "comment": ""}, uow)
    since, until = NOW - timedelta(days=1), NOW + timedelta(days=1)
    [by_firm] = handlers.firm_figures(PARK, since, until, uow)
    assert by_firm["firm_id"] == "a-law" and by_firm["tickets"] == 1
    assert by_firm["median_first_response_hours"] == pytest.approx(1.0)
    assert by_firm["median_resolution_hours"] == pytest.approx(2.0)
    assert by_firm["sla_compliance_percent"] == 100.0 and by_firm["mean_rating"] == 4
    [by_service] = handlers.service_figures(PARK, since, until, uow)
    assert by_service["service_code"] == "LEGAL-03"


def test_firm_figures_charge_each_firm_from_its_own_assignment_and_count_declines(uow):
    admit(uow)
    ticket = handlers.request_service(service_request(), PARK, uow)  # no firm yet: waits
    uow.now = NOW + timedelta(minutes=20)
    handlers.register_firm(uow, firm("a-law"), uow.now, park_id=PARK)
    uow.now = NOW + timedelta(minutes=30)
    report(uow, "work_declined", ticket.ticket_id, "a-law")  # back to waiting
    uow.now = NOW + timedelta(minutes=40)
    handlers.register_firm(uow, firm("b-law"), uow.now, park_id=PARK)
    uow.now = NOW + timedelta(minutes=50)
    report(uow, "work_accepted", ticket.ticket_id, "b-law")
    uow.now = NOW + timedelta(minutes=70)
    report(uow, "work_completed", ticket.ticket_id, "b-law", outcome="done")

    since, until = NOW - timedelta(days=1), NOW + timedelta(days=1)
    rows = {row["firm_id"]: row for row in handlers.firm_figures(PARK, since, until, uow)}
    assert rows["b-law"]["tickets"] == 1 and rows["b-law"]["declines"] == 0
    assert rows["b-law"]["median_first_response_hours"] == pytest.approx(10 / 60)
    assert rows["b-law"]["median_resolution_hours"] == pytest.approx(30 / 60)
    assert rows["a-law"]["tickets"] == 0 and rows["a-law"]["declines"] == 1
    assert rows["a-law"]["median_resolution_hours"] is None
    [by_service] = handlers.service_figures(PARK, since, until, uow)
    assert by_service["median_resolution_hours"] == pytest.approx(70 / 60)  # the ticket's
    assert by_service["declines"] == 1


# -- docs/ticketing.md stays true ------------------------------------------------------

DOC = Path(__file__).resolve().parents[4] / "docs" / "ticketing.md"
HEADING = re.compile(r"^### `(\w+)\.(?:events|work)` / `(\w+)`", re.M)


def _doc_examples() -> list[tuple[str, str, dict]]:
    text = DOC.read_text("utf-8")
    section = text[text.index("## Events") : text.index("## Reason codes")]
    found = []
    for match in re.finditer(r"```json\n(.*?)\n```", section, re.S):
        source, type_ = HEADING.findall(section[: match.start()])[-1]
        found.append((source, type_, json.loads(match.group(1))))
    return found


def test_every_ticketing_message_type_has_an_example_in_the_docs():
    documented = {type_ for _, type_, _ in _doc_examples()}
    registered = {spec.key.type for spec in REGISTRY if spec.key.source == "ticketing"}
    assert registered <= documented


@pytest.mark.parametrize("example", _doc_examples(), ids=lambda e: e[1])
def test_every_event_example_in_the_docs_passes_the_contract(example):
    source, type_, payload = example
    build(source, type_, payload, occurred_at=NOW)


def test_every_reason_code_is_in_the_docs():
    text = DOC.read_text("utf-8")
    table = text[text.index("## Reason codes") : text.index("## RPCs")]
    assert {f"`{code.value}`" for code in ReasonCode} <= set(re.findall(r"`\w+`", table))


# -- hostile reports ---------------------------------------------------------------------

_ANY = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**15), max_value=10**15),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.lists(st.text(max_size=5), max_size=3),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    report_type=st.sampled_from(
        ["work_accepted", "work_declined", "work_progressed", "work_completed", "work_exploded"]
    ),
    sender=st.one_of(
        st.none(),
        st.just("firm-a-law"),
        st.just("firm-b-law"),
        st.text(max_size=30),
        st.builds(lambda s: f"firm-{s}", st.text(max_size=12)),
    ),
    outcome=_ANY,
    fee_fen=_ANY,
    reasons=st.lists(st.text(max_size=10), max_size=3),
    waiting=st.booleans(),
)
def test_any_report_either_applies_or_is_refused_leaving_the_ticket_unchanged(
    report_type, sender, outcome, fee_fen, reasons, waiting
):
    uow = FakeUnitOfWork()
    admit(uow)
    handlers.register_firm(uow, firm("a-law"), NOW, park_id=PARK)
    handlers.register_firm(uow, firm("c-law", skills=("ip_law",)), NOW, park_id=PARK)
    ticket = handlers.request_service(service_request(), PARK, uow)
    before = handlers.get_ticket(ticket.ticket_id, uow)
    sent = len(uow.sent())
    payload = {
        "ticket_id": ticket.ticket_id,
        "note": "",
        "outcome": outcome,
        "fee_fen": fee_fen,
        "reasons": reasons,
        "waiting_on_enterprise": waiting,
    }
    try:
        handlers.apply_firm_report(report_type, payload, sender, uow)
    except PermanentFailure:
        assert handlers.get_ticket(ticket.ticket_id, uow) == before
        assert len(uow.sent()) == sent
    else:
        assert sender == "firm-a-law"  # only the assignee ever changes the ticket


def test_a_ticket_the_sla_scan_fails_on_is_left_due_and_the_others_go_on(uow, monkeypatch):
    admit(uow)
    handlers.register_firm(uow, firm("a-law"), NOW, park_id=PARK)
    bad = handlers.request_service(service_request(), PARK, uow)
    good = handlers.request_service(service_request(), PARK, uow)
    check = handlers._check_ticket

    def failing(uow, ticket, now):
        if ticket.ticket_id == bad.ticket_id:
            raise RuntimeError("boom")
        return check(uow, ticket, now)

    monkeypatch.setattr(handlers, "_check_ticket", failing)
    uow.now = NOW + timedelta(hours=4, minutes=30)
    scan = handlers.scan_sla(uow, batch=1)
    assert scan.failed == [bad.ticket_id] and scan.checked == 1
    assert [m["payload"]["ticket_id"] for m in uow.sent("sla_warning")] == [good.ticket_id]
    monkeypatch.setattr(handlers, "_check_ticket", check)
    assert handlers.scan_sla(uow).checked == 1  # the next pass takes it again


def test_a_clock_paused_past_its_warning_point_is_warned_with_no_breach_instant(uow):
    """The scan missed the 80 % point (it runs every 30 s, or was down) and then the firm
    paused the clocks: the warning is still sent, with ``due_at`` null — a paused clock
    has no breach instant. The contract must take it, or the scan fails on the ticket
    at every pass."""
    admit(uow)
    handlers.register_firm(uow, firm("a-law"), NOW, park_id=PARK)
    ticket = handlers.request_service(service_request(), PARK, uow)  # 80 h resolution
    report(uow, "work_accepted", ticket.ticket_id, "a-law")
    uow.now = NOW + timedelta(days=11)  # Friday 10:00 of the next week: 72 business hours
    report(uow, "work_progressed", ticket.ticket_id, "a-law", waiting_on_enterprise=True)

    scan = handlers.scan_sla(uow)

    assert scan.failed == []
    [warning] = uow.sent("sla_warning")
    assert warning["payload"]["clock"] == "resolution"
    assert warning["payload"]["due_at"] is None


def test_each_park_counts_sla_time_in_its_own_business_hours(uow):
    """aux-shangjie works 09:00-12:00 and 13:00-18:00; shangjie-equipment 08:30-12:00 and
    13:30-17:30 (their park files' ticketing: sections). Opened Monday 10:00 with a
    4-hour first response: due 15:00 in the one, 15:30 in the other."""
    handlers.admit_enterprise(admitted("ent-a"), "aux-shangjie", uow)
    handlers.admit_enterprise(admitted("ent-b"), "shangjie-equipment", uow)
    handlers.request_service(service_request("ent-a"), "aux-shangjie", uow)
    handlers.request_service(service_request("ent-b"), "shangjie-equipment", uow)
    due = {
        m["payload"]["enterprise_id"]: m["payload"]["first_response_due_at"]
        for m in uow.sent("ticket_opened")
    }
    assert due == {"ent-a": "2026-11-23T07:00:00Z", "ent-b": "2026-11-23T07:30:00Z"}


@pytest.mark.parametrize(
    ("opened", "due", "why"),
    [
        # Wednesday 30 Sep 17:00: 1 h that day, then National Day (1-7 Oct) → Thursday 8 Oct.
        ("2026-09-30T09:00:00+00:00", "2026-10-08T04:00:00Z", "national_day"),
        # Friday 9 Oct 17:00: Saturday 10 Oct is a 调休 make-up workday.
        ("2026-10-09T09:00:00+00:00", "2026-10-10T04:00:00Z", "make_up_saturday"),
        # Friday 20 Nov 17:00: the weekend does not count → Monday 23 Nov 12:00.
        ("2026-11-20T09:00:00+00:00", "2026-11-23T04:00:00Z", "weekend"),
        # 2030 is in no calendar data: Monday-Friday fallback (a warning), no crash.
        ("2030-03-01T09:00:00+00:00", "2030-03-04T04:00:00Z", "unknown_year"),
    ],
    ids=lambda value: value if value.isidentifier() else "",
)
def test_the_first_response_is_due_in_business_hours_of_the_official_calendar(opened, due, why):
    uow = FakeUnitOfWork()
    uow.now = datetime.fromisoformat(opened)
    admit(uow)
    handlers.request_service(service_request(), PARK, uow)  # LEGAL-03: 4 h first response
    [ticket_opened] = uow.sent("ticket_opened")
    assert ticket_opened["payload"]["first_response_due_at"] == due, why


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    description=st.text(max_size=4100)
    | st.sampled_from(["\ud800", "ok\x00", " ", "a" * 4001, "申请\n\t说明"]),
    priority=st.sampled_from(["normal", "urgent"]),
    code=st.sampled_from(["LEGAL-03", "LEGAL-08", "ENV-01", "NOPE-01"]),
)
def test_any_valid_request_is_answered_by_a_ticket_or_a_rejection_with_reasons(
    description, priority, code
):
    uow = FakeUnitOfWork()
    admit(uow)
    handlers.request_service(
        service_request(description=description, priority=priority, code=code), PARK, uow
    )
    opened, rejected = uow.sent("ticket_opened"), uow.sent("service_request_rejected")
    assert len(opened) + len(rejected) == 1
    if rejected:
        assert rejected[0]["payload"]["reasons"]


# -- RPC arguments -------------------------------------------------------------------------


def test_rpc_arguments_are_validated_naming_the_field():
    args = schemas.load(
        schemas.FiguresQuery,
        park_id=PARK,
        since="2026-11-01T00:00:00Z",
        until="2026-12-01T00:00:00Z",
    )
    assert args["since"] < args["until"]
    with pytest.raises(InvalidRequest, match="until"):
        schemas.load(
            schemas.FiguresQuery,
            park_id=PARK,
            since="2026-12-01T00:00:00Z",
            until="2026-11-01T00:00:00Z",
        )
    with pytest.raises(InvalidRequest, match="since"):
        schemas.load(schemas.FiguresQuery, park_id=PARK, since="2026-11-01", until=None)
    with pytest.raises(InvalidRequest, match="status"):
        schemas.load(schemas.TicketQuery, status="lost")
    with pytest.raises(InvalidRequest, match="limit"):
        schemas.load(schemas.TicketQuery, limit=0)


# -- the UNKNOWN_ENTERPRISE_GRACE setting -------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"), [(None, 1800), ("", 1800), (0, 0), ("90", 90), (2.5, 2.5)]
)
def test_the_grace_setting_is_read_as_seconds(value, seconds):
    from services.ticketing.service import unknown_enterprise_grace

    assert unknown_enterprise_grace(value) == timedelta(seconds=seconds)


@pytest.mark.parametrize("value", [-1, "half an hour", True, [1], "nan", "inf", 10**8])
def test_a_bad_grace_setting_is_refused_naming_it(value):
    from services.ticketing.service import unknown_enterprise_grace

    with pytest.raises(ValueError, match="UNKNOWN_ENTERPRISE_GRACE"):
        unknown_enterprise_grace(value)
