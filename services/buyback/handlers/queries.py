"""Operators' read-only views: claims by state, one claim's history, the exposure."""

from __future__ import annotations

from datetime import date
from typing import Any

from services.buyback.domain.claim_document import claim_to_document
from services.buyback.domain.claims import Claim
from services.buyback.domain.exposure import exposure_report
from services.buyback.domain.window import park_date
from services.buyback.exceptions import NotFound
from services.buyback.unit_of_work import AbstractBuybackUnitOfWork


def claim_view(claim: Claim) -> dict[str, Any]:
    """A claim as the RPCs return it (JSON-ready): its document, and whether it is open."""
    view = claim_to_document(claim)
    view["open"] = claim.is_open
    return view


def list_claims(state: str | None, uow: AbstractBuybackUnitOfWork, limit: int = 500) -> list:
    with uow:
        return [claim_view(c) for c in uow.claims.query(state, limit)]


def claim_history(claim_id: str, uow: AbstractBuybackUnitOfWork) -> dict[str, Any]:
    """The claim and every step it took, in order, each with its time."""
    with uow:
        claim = uow.claims.get(claim_id)
        if claim is None:
            raise NotFound(f"no claim {claim_id}")
        return {"claim": claim_view(claim), "steps": uow.history.of(claim_id)}


def exposure(as_of: date | None, uow: AbstractBuybackUnitOfWork) -> dict[str, Any]:
    """The park's potential liability on ``as_of`` (default: today, park date)."""
    with uow:
        day = as_of or park_date(uow.clock())
        return exposure_report(uow.holdings.all(), day, uow.claims.settled_units())
