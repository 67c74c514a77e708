"""A claim as a JSON document (the ``claims.state`` column and what the RPCs show):
dates as ISO dates, times as UTC with ``Z``, money as integer fen."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from services.buyback.domain import events as ev
from services.buyback.domain.claims import (
    Claim,
    ClaimRequest,
    ClaimState,
    ReviewOutcome,
    Settlement,
    iso_utc,
)
from services.buyback.domain.reasons import Reason


def claim_to_document(claim: Claim) -> dict[str, Any]:
    """The claim as the JSON document stored (and shown by the RPCs)."""
    settlement = claim.settlement
    return {
        "claim_id": claim.claim_id,
        "enterprise_id": claim.enterprise_id,
        "reason": claim.request.reason,
        "evidence": list(claim.request.evidence),
        "park_id": claim.park_id,
        "state": str(claim.state),
        "received_on": claim.received_on.isoformat(),
        "filed_at": iso_utc(claim.filed_at),
        "units": [{"unit_id": u.unit_id, "price_fen": u.price_fen} for u in claim.units],
        "gross_fen": claim.gross_fen,
        "window_ends_on": claim.window_ends_on.isoformat() if claim.window_ends_on else None,
        "ineligible_reasons": [r.to_dict() for r in claim.ineligible_reasons],
        "reviews": {
            name: {
                "outcome": r.outcome,
                "reasons": list(r.reasons),
                "ticket_id": r.ticket_id,
                "firm_id": r.firm_id,
                "resolved_at": iso_utc(r.resolved_at),
            }
            for name, r in sorted(claim.reviews.items())
        },
        "settlement_requests": claim.settlement_requests,
        "settlement": None
        if settlement is None
        else {
            "gross_fen": settlement.gross_fen,
            "offsets": [o.__dict__ for o in settlement.offsets],
            "net_fen": settlement.net_fen,
            "payout_fen": settlement.payout_fen,
            "settled_on": settlement.settled_on.isoformat(),
        },
        "released_units": list(claim.released_units),
        "release_due_at": iso_utc(claim.release_due_at),
        "netting": claim.netting,
        "netting_due_at": iso_utc(claim.netting_due_at),
        "release_refusal": claim.release_refusal,
        "withdrawal": claim.withdrawal,
        "ignored_settlement": claim.ignored_settlement,
        "escalated": list(claim.escalated),
        "next_due_at": iso_utc(claim.next_due_at),
        "updated_at": iso_utc(claim.updated_at),
    }


#: Recorded as the netting of a claim settled before buyback consumed ``buyback_netted``
#: (a document without ``netting_due_at``): billing's netting of it was never delivered
#: here, so it is not waited for — the release alone closes such a claim, as it did.
NETTING_NOT_AWAITED = {"not_awaited": "settled before buyback consumed buyback_netted"}


def claim_from_document(state: dict[str, Any]) -> Claim:
    """The claim a stored document holds."""
    settlement = state.get("settlement")
    older = settlement is not None and "netting_due_at" not in state
    return Claim(
        request=ClaimRequest(
            state["claim_id"],
            state["enterprise_id"],
            state["reason"],
            tuple(state["evidence"]),
        ),
        park_id=state.get("park_id"),
        state=ClaimState(state["state"]),
        received_on=date.fromisoformat(state["received_on"]),
        filed_at=_parse(state["filed_at"]),
        units=tuple(ev.ClaimUnit(u["unit_id"], u["price_fen"]) for u in state["units"]),
        window_ends_on=date.fromisoformat(state["window_ends_on"])
        if state.get("window_ends_on")
        else None,
        ineligible_reasons=tuple(Reason.from_dict(r) for r in state["ineligible_reasons"]),
        reviews={
            name: ReviewOutcome(
                name,
                r["outcome"],
                tuple(r["reasons"]),
                r["ticket_id"],
                r["firm_id"],
                _parse(r["resolved_at"]),
            )
            for name, r in state["reviews"].items()
        },
        settlement_requests=state["settlement_requests"],
        settlement=None
        if settlement is None
        else Settlement(
            settlement["gross_fen"],
            tuple(ev.Offset(**o) for o in settlement["offsets"]),
            settlement["net_fen"],
            date.fromisoformat(settlement["settled_on"]),
        ),
        released_units=tuple(state["released_units"]),
        release_due_at=_parse(state.get("release_due_at"))
        or (_parse(state.get("next_due_at")) if older else None),
        netting=NETTING_NOT_AWAITED if older else state.get("netting"),
        netting_due_at=_parse(state.get("netting_due_at")),
        release_refusal=state.get("release_refusal"),
        withdrawal=state.get("withdrawal"),
        ignored_settlement=state.get("ignored_settlement"),
        escalated=tuple(state["escalated"]),
        next_due_at=_parse(state.get("next_due_at")),
        updated_at=_parse(state.get("updated_at")),
    )


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
