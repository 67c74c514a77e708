"""The projection of ``onboarding.events``: what each enterprise holds and when it
started production. Events arrive in any order; each is idempotent, and the units held
do not depend on the order (``domain/holdings.py``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from services.buyback.domain.errors import DomainError
from services.buyback.domain.holdings import HeldUnit, Holding
from services.buyback.handlers.publishing import store
from services.buyback.unit_of_work import AbstractBuybackUnitOfWork
from shared.messaging.errors import PermanentFailure, TransientFailure

#: Releases of units only reserved by an application, never allocated to an enterprise.
RELEASES_NEVER_ALLOCATED = (
    "application_rejected",
    "application_suspended",
    "application_withdrawn",
)


def _holding(uow: AbstractBuybackUnitOfWork, enterprise_id: str) -> Holding:
    return uow.holdings.get_for_update(enterprise_id, uow.clock())


def admit_enterprise(
    payload: Mapping[str, Any], park_id: str | None, uow: AbstractBuybackUnitOfWork
) -> bool:
    with uow:
        holding = _holding(uow, payload["enterprise_id"])
        changed = holding.admit(park_id)
        if changed:
            uow.holdings.save(holding, uow.clock())
            uow.commit()
    return changed


def allocate_units(
    payload: Mapping[str, Any],
    park_id: str | None,
    uow: AbstractBuybackUnitOfWork,
    *,
    occurred_at: datetime | None = None,
) -> bool:
    """Record the units with their tenure and recorded price (a lease: ``price_fen``
    null), allocated at ``occurred_at`` (the envelope's): a unit's contracts are ordered
    by it, so an older contract's allocation arriving late does not replace a newer one,
    and one already released stays released. A purchased unit without a price can never
    be bought back at its original price: refused, for an operator, rather than recorded
    at a guessed one."""
    units = []
    for unit in payload["units"]:
        if unit["tenure"] == "purchase" and unit["price_fen"] is None:
            raise PermanentFailure(
                f"units_allocated: purchased unit {unit['unit_id']} has no price_fen"
            )
        units.append(
            HeldUnit(
                unit_id=unit["unit_id"],
                tenure=unit["tenure"],
                price_fen=unit["price_fen"] if unit["tenure"] == "purchase" else None,
                contract_id=unit["contract_id"],
            )
        )
    with uow:
        holding = _holding(uow, payload["enterprise_id"])
        changed = holding.allocate(units, park_id, occurred_at)
        if changed:
            uow.holdings.save(holding, uow.clock())
            uow.commit()
    return changed


def start_production(
    payload: Mapping[str, Any], park_id: str | None, uow: AbstractBuybackUnitOfWork
) -> bool:
    started_on: date = payload["started_on"]
    with uow:
        holding = _holding(uow, payload["enterprise_id"])
        if holding.park_id is None and park_id is not None:
            holding.park_id = park_id
        try:
            changed = holding.start_production(started_on)
        except DomainError as error:
            raise PermanentFailure(f"{error.code}: {error.message}") from None
        if changed:
            uow.holdings.save(holding, uow.clock())
            uow.commit()
    return changed


def release_units(
    payload: Mapping[str, Any], uow: AbstractBuybackUnitOfWork, *, sender: str | None = None
) -> bool:
    """Units left the enterprise. With this service's ``claim_id`` (``buyback_settled``)
    they count towards closing that claim. Returns whether units were dropped or the
    claim was told.

    With a ``contract_id`` (onboarding always names it), only units held under that
    contract are dropped, and the contract is remembered as ended for every named unit
    (``Holding.release``): a stale release (a lease that ended before the enterprise
    bought the same unit under a new contract) leaves the newer holding alone, and a
    release that arrives before its ``units_allocated`` is taken at once — that
    allocation will change nothing when it comes, however late (no retry that could run
    out first and leave a ghost unit). Without one (an older onboarding), every named
    unit the enterprise holds is released, and units it does not hold yet are retried:
    their ``units_allocated`` may still be in flight."""
    enterprise_id = payload.get("enterprise_id")
    claim_id = payload.get("claim_id")
    contract_id = payload.get("contract_id")
    if enterprise_id is None or payload["reason"] in RELEASES_NEVER_ALLOCATED:
        return False  # reserved, never allocated: never in the projection
    with uow:
        now = uow.clock()
        if contract_id is not None:
            holding = _holding(uow, enterprise_id)
        else:
            holding = uow.holdings.get(enterprise_id, lock=True)
        claim = uow.claims.get(claim_id, lock=True) if claim_id else None
        if claim is not None and claim.enterprise_id != enterprise_id:
            raise PermanentFailure(
                f"release_conflict: units_released names enterprise {enterprise_id} but claim "
                f"{claim_id} is enterprise {claim.enterprise_id}'s"
            )
        before = holding.to_state() if holding else None
        dropped = holding.release(list(payload["units"]), contract_id) if holding else []
        if (
            contract_id is None
            and not dropped
            and (claim is None or not _already_released(claim, payload["units"]))
        ):
            raise TransientFailure(
                f"units {', '.join(payload['units'])} are not allocated to {enterprise_id} in "
                "this projection (yet): its units_allocated may still be in flight"
            )
        if holding is not None and holding.to_state() != before:
            uow.holdings.save(holding, now)
        if claim is not None:
            try:
                claim.record_release(list(payload["units"]), now)
            except DomainError as error:
                raise PermanentFailure(f"{error.code}: {error.message}") from None
            store(uow, claim, sender=sender)
        uow.commit()
    return bool(dropped) or claim is not None


def _already_released(claim, unit_ids) -> bool:
    return set(unit_ids) <= set(claim.released_units)
