"""Hypothesis throws thousands of hostile inputs at buyback's edges: every RPC argument,
and every payload of the events it consumes. Each is loaded and handled, or refused by
name (an ``InvalidRequest``, a malformed message, a permanent or transient failure) —
never another exception, never an event off the contract (the fake's outbox checks)."""

import json
import uuid
from datetime import UTC

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.buyback import handlers, schemas
from services.buyback.exceptions import InvalidRequest, NotFound
from services.buyback.tests.unit.fakes import NOW, FakeUnitOfWork
from services.buyback.tests.unit.test_handlers import PARK, known_enterprise
from shared.contract import parse
from shared.messaging.errors import MalformedMessage, PermanentFailure, TransientFailure

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))
UUIDS = st.uuids().map(str)
FAILURES = (MalformedMessage, PermanentFailure, TransientFailure)
SLOW = settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)


@settings(max_examples=300)
@given(state=JSON, limit=JSON)
def test_list_claims_arguments_load_or_are_refused_by_name(state, limit):
    try:
        args = schemas.load(schemas.ClaimQuery, state=state, limit=limit)
    except InvalidRequest:
        return
    assert isinstance(args["limit"], int) and 1 <= args["limit"] <= 5000
    assert handlers.list_claims(args["state"], FakeUnitOfWork(), limit=args["limit"]) == []


@settings(max_examples=300)
@given(claim_id=JSON | TEXT | UUIDS, reason=JSON | TEXT, operator=JSON | TEXT)
def test_withdraw_claim_arguments_load_or_are_refused_by_name(claim_id, reason, operator):
    try:
        args = schemas.load(schemas.Withdrawal, claim_id=claim_id, reason=reason, operator=operator)
    except InvalidRequest as error:
        assert str(error).startswith("[invalid_request]")
        return
    try:
        handlers.withdraw_claim(
            args["claim_id"], args["reason"], args["operator"], FakeUnitOfWork()
        )
    except NotFound:
        return  # loaded, it names no claim of the empty store
    raise AssertionError("an unknown claim is not found")


@settings(max_examples=300)
@given(claim_id=JSON | TEXT | UUIDS)
def test_claim_history_arguments_load_or_are_refused_by_name(claim_id):
    try:
        args = schemas.load(schemas.ClaimLookup, claim_id=claim_id)
    except InvalidRequest:
        return
    try:
        handlers.claim_history(args["claim_id"], FakeUnitOfWork())
    except NotFound:
        return
    raise AssertionError("an unknown claim is not found")


@settings(max_examples=300)
@given(as_of=JSON | TEXT | st.dates().map(str))
def test_exposure_arguments_load_or_are_refused_by_name(as_of):
    try:
        args = schemas.load(schemas.ExposureQuery, park_id=PARK, as_of=as_of)
    except InvalidRequest:
        return
    report = handlers.exposure(args["park_id"], args["as_of"], FakeUnitOfWork())
    assert report["total_fen"] == 0 and report["park_id"] == PARK


@settings(max_examples=300)
@given(park_id=JSON | TEXT, as_of=st.none() | JSON | TEXT | st.dates().map(str))
def test_any_exposure_call_shape_answers_or_is_refused_by_name(park_id, as_of):
    uow = FakeUnitOfWork()
    try:
        args = schemas.exposure_arguments(park_id, as_of)
        report = handlers.exposure(args["park_id"], args["as_of"], uow)
    except (InvalidRequest, NotFound) as error:
        assert str(error).startswith(("[invalid_request]", "[not_found]", "[unknown_park]"))
        return
    assert report["park_id"] in ("aux-shangjie", "shangjie-equipment")


def envelope(source, type_, payload, occurred_at="2026-11-27T01:00:00Z"):
    return json.dumps(
        {
            "event_id": str(uuid.uuid4()),
            "type": type_,
            "source": source,
            "version": 1,
            "occurred_at": occurred_at,
            "correlation_id": str(uuid.uuid4()),
            "causation_id": None,
            "park_id": PARK,
            "payload": payload,
        },
        ensure_ascii=False,
    )


def consume(body, handle):
    """What the shared consumer does with a body: parse, then the handler."""
    try:
        event = parse(body)
    except MalformedMessage:
        return "malformed"
    try:
        handle(event)
    except FAILURES as failure:
        return type(failure).__name__
    return "handled"


@SLOW
@given(
    claim_id=UUIDS | JSON,
    enterprise_id=st.sampled_from(["ent-1", "ent-2"]) | JSON,
    reason=TEXT | JSON,
    evidence=st.lists(TEXT, max_size=3) | JSON,
    occurred_at=st.datetimes(timezones=st.just(UTC)).map(
        lambda d: d.isoformat().replace("+00:00", "Z")
    )
    | JSON,
)
def test_any_buyback_request_is_filed_refused_retried_or_malformed(
    claim_id, enterprise_id, reason, evidence, occurred_at
):
    uow = FakeUnitOfWork()
    known_enterprise(uow)
    payload = {
        "claim_id": claim_id,
        "enterprise_id": enterprise_id,
        "reason": reason,
        "evidence": evidence,
    }
    body = envelope("portal", "buyback_requested", payload, occurred_at)
    outcome = consume(
        body,
        lambda e: handlers.request_claim(e.payload, e.park_id, uow, occurred_at=e.occurred_at),
    )
    types = set(uow.types())
    if outcome == "handled":
        assert types in ({"claim_filed", "claim_review_requested"}, {"claim_ineligible"})
    else:
        assert outcome in ("malformed", "TransientFailure") and types == set()


@SLOW
@given(
    claim_id=UUIDS,
    enterprise_id=st.sampled_from(["ent-1", "ent-2"]) | TEXT,
    review=st.sampled_from(["legal", "finance"]) | JSON,
    outcome=st.sampled_from(["approve", "reject", "done"]) | JSON,
    reasons=st.lists(TEXT, max_size=2) | JSON,
    known=st.booleans(),
)
def test_any_ticket_resolution_is_recorded_refused_retried_or_malformed(
    claim_id, enterprise_id, review, outcome, reasons, known
):
    uow = FakeUnitOfWork()
    known_enterprise(uow)
    if known:
        handlers.request_claim(
            {"claim_id": claim_id, "enterprise_id": "ent-1", "reason": "r", "evidence": []},
            PARK,
            uow,
            occurred_at=NOW,
        )
    before = uow.types()
    payload = {
        "ticket_id": "tk-1",
        "enterprise_id": enterprise_id,
        "service_code": "LEGAL-09",
        "origin": "buyback_review",
        "request_id": None,
        "claim_id": claim_id,
        "review": review,
        "firm_id": "law-01",
        "outcome": outcome,
        "reasons": reasons,
        "fee_fen": None,
    }
    result = consume(
        envelope("ticketing", "ticket_resolved", payload),
        lambda e: handlers.resolve_review(e.payload, uow, sender="ticketing"),
    )
    if result != "handled":
        assert uow.types() == before
    if not known and result != "malformed":
        assert result == "TransientFailure"


@SLOW
@given(
    gross=st.integers(min_value=-(2**63), max_value=2**63) | JSON,
    net=st.integers(min_value=-(2**63), max_value=2**63) | JSON,
    offsets=st.lists(
        st.fixed_dictionaries(
            {
                "kind": st.sampled_from(["invoice", "late_fee", "nonsense"]),
                "invoice_id": st.none() | UUIDS,
                "amount_fen": st.integers(min_value=-10, max_value=2**40),
            }
        ),
        max_size=3,
    )
    | JSON,
)
def test_any_settlement_answer_settles_once_or_is_refused(gross, net, offsets):
    uow = FakeUnitOfWork()
    known_enterprise(uow)
    claim_id = "6f1c2a8e-3b4d-4e5f-9a0b-1c2d3e4f5a6b"
    handlers.request_claim(
        {"claim_id": claim_id, "enterprise_id": "ent-1", "reason": "r", "evidence": []},
        PARK,
        uow,
        occurred_at=NOW,
    )
    for review in ("legal", "finance"):
        handlers.resolve_review(
            {
                "ticket_id": f"tk-{review}",
                "enterprise_id": "ent-1",
                "claim_id": claim_id,
                "review": review,
                "firm_id": "f",
                "outcome": "approve",
                "reasons": [],
            },
            uow,
            sender="ticketing",
        )
    payload = {
        "claim_id": claim_id,
        "enterprise_id": "ent-1",
        "gross_fen": gross,
        "offsets": offsets,
        "net_fen": net,
    }
    result = consume(
        envelope("billing", "buyback_settlement_computed", payload),
        lambda e: handlers.record_settlement(e.payload, uow, sender="billing"),
    )
    settled = uow.events("claim_settled")
    if result == "handled":
        assert gross == 192_000_000 and [s["payload"]["net_fen"] for s in settled] == [net]
    else:
        assert result in ("malformed", "PermanentFailure") and settled == []
        assert uow.store.claims[claim_id]["state"] == "awaiting_settlement"


def test_a_naive_or_offset_occurred_at_is_malformed():
    for occurred_at in ("2026-11-27T01:00:00", "2026-11-27T09:00:00+08:00"):
        body = envelope(
            "portal",
            "buyback_requested",
            {"claim_id": str(uuid.uuid4()), "enterprise_id": "e", "reason": "r", "evidence": []},
            occurred_at,
        )
        assert consume(body, lambda e: None) == "malformed"


@SLOW
@given(
    claim_id=UUIDS | JSON,
    enterprise_id=st.sampled_from(["ent-1", "ent-2"]) | JSON,
    reason=TEXT | JSON,
    filed=st.booleans(),
)
def test_any_withdrawal_withdraws_is_refused_retried_or_malformed(
    claim_id, enterprise_id, reason, filed
):
    uow = FakeUnitOfWork()
    known_enterprise(uow)
    own = "6f1c2a8e-3b4d-4e5f-9a0b-1c2d3e4f5a6b"
    if filed:
        handlers.request_claim(
            {"claim_id": own, "enterprise_id": "ent-1", "reason": "r", "evidence": []},
            PARK,
            uow,
            occurred_at=NOW,
        )
    before = list(uow.types())
    payload = {"claim_id": claim_id, "enterprise_id": enterprise_id, "reason": reason}
    result = consume(
        envelope("portal", "buyback_withdrawn", payload),
        lambda e: handlers.withdraw_by_enterprise(
            e.payload, e.park_id, uow, occurred_at=e.occurred_at
        ),
    )
    added = uow.types()[len(before) :]
    if result == "handled":
        assert added in (["claim_withdrawn"], ["claim_withdrawal_refused"])
        if added == ["claim_withdrawn"]:
            assert (claim_id, enterprise_id) == (own, "ent-1")
    else:
        assert result in ("malformed", "TransientFailure") and added == []


@SLOW
@given(
    units=st.lists(
        st.fixed_dictionaries(
            {
                "unit_id": TEXT | JSON,
                "area_m2": st.integers(min_value=-5, max_value=10**6) | JSON,
                "tenure": st.sampled_from(["purchase", "lease", "gift"]) | JSON,
                "price_fen": st.none() | st.integers(min_value=-5, max_value=2**62) | JSON,
                "monthly_rent_fen": st.none() | st.integers(min_value=0, max_value=10**9),
                "monthly_property_fee_fen": st.integers(min_value=0, max_value=10**9) | JSON,
                "contract_id": TEXT,
            }
        ),
        max_size=3,
    )
    | JSON,
)
def test_any_allocation_is_recorded_refused_or_malformed_and_only_purchases_count(units):
    uow = FakeUnitOfWork()
    payload = {
        "application_id": str(uuid.uuid4()),
        "enterprise_id": "ent-1",
        "contract_id": "ct",
        "tenure": "purchase",
        "units": units,
    }
    result = consume(
        envelope("onboarding", "units_allocated", payload),
        lambda e: handlers.allocate_units(e.payload, e.park_id, uow),
    )
    assert result in ("handled", "malformed", "PermanentFailure")
    held = handlers.exposure(PARK, None, uow)
    if result != "handled":
        assert uow.store.holdings == {}
    assert held["units"] == 0  # no production start yet: nothing inside a window
    if result == "handled":  # then every unit loaded: the last of a repeated id counts
        latest = {u["unit_id"]: u for u in units}
        priced = [u["price_fen"] for u in latest.values() if u["tenure"] == "purchase"]
        assert held["not_started"]["total_fen"] == sum(priced)


def settled_claim(uow):
    """A claim of ent-1 settled at gross 192,000,000, net 150,000,000."""
    from services.buyback.tests.unit.test_handlers import approve, computed

    approve(uow)
    handlers.record_settlement(computed(), uow, sender="billing")
    return uow.store.claims[CLAIM]["claim_id"]


CLAIM = "6f1c2a8e-3b4d-4e5f-9a0b-1c2d3e4f5a6b"


@SLOW
@given(
    net=st.integers(min_value=-(2**63), max_value=2**63) | JSON,
    gross=st.sampled_from([192_000_000, 191_999_999]) | JSON,
    still_owed=st.integers(min_value=-1, max_value=10) | JSON,
    settled_on=st.sampled_from(["2026-11-27", "2026-11-28", "2026-02-30"]) | JSON,
    enterprise_id=st.sampled_from(["ent-1", "ent-2"]) | JSON,
)
def test_any_netting_is_recorded_once_refused_or_malformed_never_half_applied(
    net, gross, still_owed, settled_on, enterprise_id
):
    uow = FakeUnitOfWork()
    claim_id = settled_claim(uow)
    before = (uow.types(), uow.store.claims[claim_id]["netting"])
    payload = {
        "claim_id": claim_id,
        "enterprise_id": enterprise_id,
        "gross_fen": gross,
        "net_fen": net,
        "payout_fen": max(net, 0) if isinstance(net, int) else net,
        "still_owed_fen": still_owed,
        "settled_on": settled_on,
    }
    result = consume(
        envelope("billing", "buyback_netted", payload),
        lambda e: handlers.record_netting(e.payload, uow, sender="billing"),
    )
    netting = uow.store.claims[claim_id]["netting"]
    if result == "handled":
        assert netting is not None and netting["net_fen"] == net
        expected = (gross, net, settled_on) == (192_000_000, 150_000_000, "2026-11-27")
        escalated = uow.events("claim_escalated")
        assert (escalated == []) == expected
        assert [e["payload"]["stage"] for e in escalated] in ([], ["netting_mismatch"])
    else:
        assert result in ("malformed", "PermanentFailure")
        assert (uow.types(), netting) == before


@SLOW
@given(
    units=st.lists(st.sampled_from(["B07-2F-03", "B07-2F-04", "B09-1F-01"]), max_size=3) | JSON,
    reasons=st.lists(
        st.fixed_dictionaries({"code": TEXT, "message": TEXT, "field": st.none() | TEXT}),
        max_size=2,
    )
    | JSON,
    enterprise_id=st.sampled_from(["ent-1", "ent-2"]) | JSON,
)
def test_any_release_refusal_makes_the_claim_stuck_once_or_is_refused(
    units, reasons, enterprise_id
):
    uow = FakeUnitOfWork()
    claim_id = settled_claim(uow)
    before = uow.types()
    payload = {
        "claim_id": claim_id,
        "enterprise_id": enterprise_id,
        "units": units,
        "reasons": reasons,
    }
    result = consume(
        envelope("onboarding", "release_refused", payload),
        lambda e: handlers.refuse_release(e.payload, uow, sender="onboarding"),
    )
    state = uow.store.claims[claim_id]["state"]
    if result == "handled":
        assert state == "stuck"
        assert [e["payload"]["stage"] for e in uow.events("claim_escalated")] == ["release_refused"]
    else:
        assert result in ("malformed", "PermanentFailure")
        assert (uow.types(), state) == (before, "awaiting_release")
