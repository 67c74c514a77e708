"""The ticketing contract: every ``ticketing.events`` type and work message of DESIGN §5,
the buyback events ticketing consumes, and the firms' reports — valid examples pass,
an origin that is missing, doubled or half-given fails, and so does a bad outcome."""

import uuid
from datetime import UTC, datetime

import pytest

from shared.contract import REGISTRY, build, parse, validate_outgoing
from shared.contract.envelope import encode
from shared.messaging.errors import ContractViolation, MalformedMessage

NOW = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
REQUEST_ID = "0b7f2c1e-4d5a-4e8b-9c3d-2a1b0c9d8e7f"
CLAIM_ID = "7e2d4c1b-9a8f-4e6d-b5c4-3a2b1c0d9e8f"
SERVICE = {"origin": "service_request", "request_id": REQUEST_ID, "claim_id": None, "review": None}
REVIEW = {"origin": "buyback_review", "request_id": None, "claim_id": CLAIM_ID, "review": "legal"}
ADMISSION = {"origin": "admission", "request_id": None, "claim_id": None, "review": None}
TICKET = {"ticket_id": "T-000123", "enterprise_id": "ent-1", "service_code": "LEGAL-03"}
DUE = "2026-11-27T06:00:00Z"

EXTRA = {
    "ticket_opened": {
        "priority": "normal",
        "description": "劳动合同审查",
        "fee_policy": "fixed",
        "fee_fen": 80000,
        "first_response_due_at": DUE,
        "resolution_due_at": "2026-12-01T06:00:00Z",
    },
    "ticket_assigned": {"firm_id": "law-1"},
    "ticket_accepted": {"firm_id": "law-1"},
    "ticket_reassigned": {"from_firm_id": "law-1", "to_firm_id": None, "why": "declined"},
    "ticket_progressed": {"firm_id": "law-1", "note": ""},
    "ticket_waiting": {"firm_id": "law-1", "note": "请补充劳动合同原件"},
    "ticket_resumed": {"by": "enterprise"},
    "ticket_resolved": {
        "firm_id": "law-1",
        "outcome": "done",
        "reasons": [],
        "fee_fen": None,
        "note": "审查完毕",
    },
    "ticket_closed": {"why": "rated"},
    "sla_warning": {"clock": "first_response", "firm_id": "law-1", "due_at": DUE},
    "sla_breached": {"clock": "resolution", "firm_id": None, "due_at": DUE},
    "ticket_escalated": {
        "clock": "resolution",
        "firm_id": "law-1",
        "chief_service_officer": "王芳",
    },
    "ticket_rated": {"firm_id": "law-1", "score": 5, "comment": ""},
    "ticket_cancelled": {"reason": "claim_withdrawn", "firm_id": None},
}
TICKET_TYPES = sorted(EXTRA)


def payload(type_, origin=SERVICE, **changes):
    return {**TICKET, **origin, **EXTRA[type_], **changes}


def rejected(**changes):
    return {
        **TICKET,
        **SERVICE,
        "ticket_id": None,
        "reasons": [{"code": "unknown_service_code", "message": "no service X-1", "field": None}],
        **changes,
    }


def work_assigned(**changes):
    return {
        "ticket_id": "T-000123",
        "firm_id": "law-1",
        "service_code": "LEGAL-03",
        "service_name": "劳动合同审查",
        "service_name_en": "Employment contract review",
        **SERVICE,
        "priority": "urgent",
        "description": "请审查三份劳动合同",
        "fee_policy": "quoted",
        "fee_fen": None,
        "enterprise": {
            "enterprise_id": "ent-1",
            "name": "郑州某机械有限公司",
            "uscc": "91410100MA44XXXX1X",
            "legal_representative": "张三",
            "contact_phone": "13800000000",
        },
        "first_response_due_at": DUE,
        "resolution_due_at": None,
        **changes,
    }


def loads(type_, data, source="ticketing"):
    return REGISTRY.spec(source, type_, 1).schema().validate(data)


def test_every_ticketing_event_of_the_design_is_registered():
    keys = {spec.key.type for spec in REGISTRY if spec.key.source == "ticketing"}
    design = {
        "service_request_rejected", "ticket_opened", "ticket_assigned", "ticket_accepted",
        "ticket_reassigned", "ticket_waiting", "ticket_resumed", "ticket_resolved",
        "ticket_closed", "sla_warning", "sla_breached", "ticket_escalated", "ticket_rated",
        "ticket_cancelled", "work_assigned", "work_withdrawn",
    }  # fmt: skip
    assert design <= keys


@pytest.mark.parametrize("type_", TICKET_TYPES)
@pytest.mark.parametrize("origin", [SERVICE, REVIEW, ADMISSION], ids=lambda o: o["origin"])
def test_every_ticket_event_is_valid_from_each_origin(type_, origin):
    assert loads(type_, payload(type_, origin)) == {}
    # and goes out through the envelope
    envelope = build("ticketing", type_, payload(type_, origin), occurred_at=NOW)
    assert parse(encode(envelope)).payload["ticket_id"] == "T-000123"


@pytest.mark.parametrize("type_", TICKET_TYPES)
def test_a_ticket_event_without_an_origin_is_refused(type_):
    none = {"request_id": None, "claim_id": None, "review": None}
    assert "origin" in loads(type_, payload(type_, SERVICE, **none))
    data = payload(type_)
    del data["origin"]
    assert "origin" in loads(type_, data)
    assert "origin" in loads(type_, payload(type_) | {"origin": "x"})


@pytest.mark.parametrize("type_", TICKET_TYPES)
def test_a_ticket_event_with_both_origins_is_refused(type_):
    both = {"request_id": REQUEST_ID, "claim_id": CLAIM_ID, "review": "finance"}
    assert "origin" in loads(type_, payload(type_, SERVICE, **both))
    assert "origin" in loads(type_, payload(type_, REVIEW, **both))
    assert "origin" in loads(type_, payload(type_, ADMISSION, request_id=REQUEST_ID))


def test_a_review_needs_both_its_claim_and_which_review():
    assert "origin" in loads("ticket_opened", payload("ticket_opened", REVIEW, review=None))
    assert "origin" in loads("ticket_opened", payload("ticket_opened", REVIEW, claim_id=None))
    assert "review" in loads("ticket_opened", payload("ticket_opened", REVIEW, review="tax"))


def test_the_origin_ids_must_be_present_even_when_null():
    data = payload("ticket_assigned")
    del data["claim_id"]
    assert "claim_id" in loads("ticket_assigned", data)


def test_a_resolution_outcome_is_done_approve_or_reject():
    for outcome in ("done", "approve", "reject"):
        assert loads("ticket_resolved", payload("ticket_resolved", outcome=outcome)) == {}
    for bad in ("resolved", "", "DONE", None):
        assert "outcome" in loads("ticket_resolved", payload("ticket_resolved", outcome=bad))
    assert "fee_fen" in loads("ticket_resolved", payload("ticket_resolved", fee_fen=12.5))
    with_reasons = payload("ticket_resolved", REVIEW, outcome="reject", reasons=["产权存在抵押"])
    assert loads("ticket_resolved", with_reasons) == {}


def test_sla_events_name_their_clock():
    for type_ in ("sla_warning", "sla_breached", "ticket_escalated"):
        assert "clock" in loads(type_, payload(type_, clock="lunch"))
    assert "due_at" in loads("sla_breached", payload("sla_breached", due_at="2026-11-27 06:00"))


def test_a_rating_is_1_to_5():
    assert "score" in loads("ticket_rated", payload("ticket_rated", score=6))
    assert "score" in loads("ticket_rated", payload("ticket_rated", score="5"))


def test_a_service_request_rejection_has_no_ticket_and_gives_reasons():
    assert loads("service_request_rejected", rejected()) == {}
    assert "reasons" in loads("service_request_rejected", rejected(reasons=[]))
    assert "origin" in loads("service_request_rejected", rejected(request_id=None))
    assert "origin" in loads("service_request_rejected", rejected(**REVIEW))


def test_a_work_item_carries_the_ticket_and_one_enterprise():
    assert loads("work_assigned", work_assigned()) == {}
    assert loads("work_assigned", work_assigned(**REVIEW, fee_policy="free")) == {}
    assert "origin" in loads("work_assigned", work_assigned(claim_id=CLAIM_ID))
    assert "enterprise" in loads("work_assigned", work_assigned(enterprise={"name": "x"}))
    # unknown fields are not read, and refused on the way out
    with pytest.raises(ContractViolation, match="other_firms"):
        validate_outgoing("ticketing", "work_assigned", work_assigned(other_firms=["law-2"]))
    assert loads("work_withdrawn", {"ticket_id": "T-1", "firm_id": "law-1", "reason": "x"}) == {}
    assert "reason" in loads("work_withdrawn", {"ticket_id": "T-1", "firm_id": "law-1"})


def report(**changes):
    return {"ticket_id": "T-000123", "note": "合同已审查", **changes}


def test_work_completed_validates_the_outcome_and_takes_optional_reasons_and_fee():
    assert loads("work_completed", report(outcome="done", fee_fen=80000), "firms") == {}
    assert loads("work_completed", report(outcome="done", fee_fen=None), "firms") == {}
    assert loads("work_completed", report(outcome="done"), "firms") == {}
    assert loads("work_completed", report(outcome="reject", reasons=["抵押未解除"]), "firms") == {}
    assert "outcome" in loads("work_completed", report(outcome="resolved"), "firms")
    assert "outcome" in loads("work_completed", report(), "firms")
    assert "fee_fen" in loads("work_completed", report(outcome="done", fee_fen=-1), "firms")
    assert "fee_fen" in loads("work_completed", report(outcome="done", fee_fen="800"), "firms")
    assert "reasons" in loads("work_completed", report(outcome="reject", reasons="x"), "firms")
    schema = REGISTRY.spec("firms", "work_completed", 1).schema()
    assert schema.load(report(outcome="done")) | {} == report(
        outcome="done", reasons=[], fee_fen=None
    )


def test_work_progressed_may_say_the_firm_waits_on_the_enterprise():
    schema = REGISTRY.spec("firms", "work_progressed", 1).schema()
    assert schema.load(report())["waiting_on_enterprise"] is False
    assert schema.load(report(waiting_on_enterprise=True))["waiting_on_enterprise"] is True
    assert "waiting_on_enterprise" in schema.validate(report(waiting_on_enterprise="yes"))


def test_the_enterprise_replies_on_the_portal():
    assert loads("ticket_replied", {"ticket_id": "T-1", "message": "已上传"}, "portal") == {}
    assert "message" in loads("ticket_replied", {"ticket_id": "T-1", "message": " "}, "portal")


def test_buyback_asks_for_reviews_and_withdraws_claims():
    asked = {
        "claim_id": CLAIM_ID,
        "enterprise_id": "ent-1",
        "reviews": ["legal", "finance"],
        "reason": "经营困难",
        "evidence": ["审计报告"],
    }
    assert loads("claim_review_requested", asked, "buyback") == {}
    assert "reviews" in loads("claim_review_requested", asked | {"reviews": ["tax"]}, "buyback")
    assert "reviews" in loads("claim_review_requested", asked | {"reviews": []}, "buyback")
    withdrawn = {"claim_id": CLAIM_ID, "enterprise_id": "ent-1", "reason": "已获融资"}
    assert loads("claim_withdrawn", withdrawn, "buyback") == {}
    assert "claim_id" in loads("claim_withdrawn", withdrawn | {"claim_id": "c-1"}, "buyback")


def test_a_malformed_ticket_event_is_refused_whole():
    bad = build("ticketing", "ticket_assigned", payload("ticket_assigned"), occurred_at=NOW)
    bad["payload"]["claim_id"] = str(uuid.uuid4())
    with pytest.raises(MalformedMessage, match="origin"):
        parse(encode(bad))


def test_every_event_added_here_has_an_example_in_the_event_catalogue():
    from tests.unit.test_docs_examples import EXAMPLES

    documented = {(e.source, e.type) for e in EXAMPLES}
    added = {(s.key.source, s.key.type) for s in REGISTRY if s.key.source == "ticketing"}
    added |= {
        ("buyback", "claim_review_requested"),
        ("buyback", "claim_withdrawn"),
        ("portal", "ticket_replied"),
        ("firms", "work_progressed"),
        ("firms", "work_completed"),
    }
    assert added - documented == set()
