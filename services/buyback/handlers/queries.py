"""Operators' read-only views: claims by state, one claim's history, the exposure."""

from __future__ import annotations

from datetime import date
from typing import Any

from services.buyback.domain.claim_document import claim_to_document
from services.buyback.domain.claims import Claim
from services.buyback.domain.exposure import exposure_report
from services.buyback.domain.window import park_date
from services.buyback.exceptions import InvalidRequest, NotFound
from services.buyback.unit_of_work import AbstractBuybackUnitOfWork


def claim_view(claim: Claim) -> dict[str, Any]:
    """A claim as the RPCs return it (JSON-ready): its document, and whether it is open."""
    view = claim_to_document(claim)
    view["open"] = claim.is_open
    return view


def list_claims(
    state: str | None,
    uow: AbstractBuybackUnitOfWork,
    limit: int = 500,
    before: str | None = None,
) -> list:
    """Claims newest first, at most ``limit``; ``before`` (a claim id: the last of the
    previous page) continues after that claim. An unknown ``before`` is ``[not_found]``."""
    with uow:
        position = None
        if before is not None:
            last = uow.claims.get(before)
            if last is None:
                raise NotFound(f"no claim {before} to page after")
            position = (last.filed_at, last.claim_id)
        return [claim_view(c) for c in uow.claims.query(state, limit, position)]


def claim_history(claim_id: str, uow: AbstractBuybackUnitOfWork) -> dict[str, Any]:
    """The claim and every step it took, in order, each with its time and sender."""
    with uow:
        claim = uow.claims.get(claim_id)
        if claim is None:
            raise NotFound(f"no claim {claim_id}")
        return {"claim": claim_view(claim), "steps": uow.history.of(claim_id)}


def exposure(
    park_id: str | None, as_of: date | None, uow: AbstractBuybackUnitOfWork
) -> dict[str, Any]:
    """``park_id``'s potential liability on ``as_of`` (default: today, park date). No
    ``park_id`` (the older call shape): the one park this service holds enterprises of;
    ``[invalid_request]`` when there are several, ``[unknown_park]`` for a park with no
    park file."""
    with uow:
        if park_id is None:
            parks = uow.holdings.parks()
            if len(parks) > 1:
                raise InvalidRequest(
                    f"park_id: required, the projection holds enterprises of {', '.join(parks)}"
                )
            if not parks:
                raise InvalidRequest("park_id: required (no enterprise is known yet)")
            park_id = parks[0]
        if not uow.rules.knows(park_id):
            raise NotFound(f"park {park_id!r} has no park file", code="unknown_park")
        day = as_of or park_date(uow.clock())
        return exposure_report(
            park_id, uow.holdings.of_park(park_id), day, uow.claims.settled_units()
        )
