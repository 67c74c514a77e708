"""Admitted enterprises: buyback settlement, production start, lease end, chief service
officers and their visits."""

from collections.abc import Mapping
from datetime import date
from typing import Any

from services.onboarding.domain.errors import DomainError, UnitsNotOwned
from services.onboarding.domain.events import ReleaseRefused
from services.onboarding.domain.reasons import Reason, ReasonCode
from services.onboarding.exceptions import IllegalTransition, NotFound
from services.onboarding.handlers.failures import domain_rules
from services.onboarding.handlers.publishing import publish
from services.onboarding.unit_of_work import AbstractOnboardingUnitOfWork
from shared.messaging.errors import PermanentFailure


def settle_buyback(
    payload: Mapping[str, Any],
    uow: AbstractOnboardingUnitOfWork,
    park_id: str | None = None,
) -> None:
    """``buyback/claim_settled``: the bought-back units return to inventory.

    A settlement for an unknown enterprise, or for units it does not own (including a
    unit available now that this claim did not release), means the two services
    disagree about the park's property. That is a business outcome, not a broken
    message: nothing changes, and ``release_refused`` (in this transaction) names each
    such unit and why, so that buyback marks the claim stuck and escalates it at once.
    ``park_id``: the settlement's envelope park (the refusal's, when the enterprise is
    unknown here).
    """
    enterprise_id, claim_id = payload["enterprise_id"], payload["claim_id"]
    with uow:
        now = uow.clock()
        enterprise = uow.enterprises.get(enterprise_id, lock=True)
        if enterprise is None:
            _refuse_release(
                uow,
                payload,
                park_id,
                Reason(
                    ReasonCode.UNKNOWN_ENTERPRISE,
                    f"claim {claim_id}: no enterprise {enterprise_id} was admitted",
                    "enterprise_id",
                ),
            )
            return
        units = list(uow.units.get_many(enterprise.park_id, payload["units"], lock=True).values())
        released = uow.history.released_by_claim(enterprise_id, claim_id)
        try:
            enterprise.sell_back(units, payload["units"], claim_id, now, released_by_claim=released)
        except UnitsNotOwned as error:
            _refuse_release(
                uow,
                payload,
                enterprise.park_id,
                Reason(ReasonCode.UNITS_NOT_OWNED, str(error), "units"),
            )
            return
        except DomainError as error:
            raise PermanentFailure(f"{error.code}: {error}") from None
        uow.units.save(units)
        uow.enterprises.save(enterprise)
        publish(uow, enterprise.events)
        uow.commit()


def _refuse_release(
    uow: AbstractOnboardingUnitOfWork,
    payload: Mapping[str, Any],
    park_id: str | None,
    reason: Reason,
) -> None:
    refusal = ReleaseRefused(
        occurred_at=uow.clock(),
        park_id=park_id,
        claim_id=payload["claim_id"],
        enterprise_id=payload["enterprise_id"],
        units=tuple(payload["units"]),
        reasons=(reason,),
    )
    publish(uow, [refusal])
    uow.commit()


def _enterprise(uow: AbstractOnboardingUnitOfWork, enterprise_id: str):
    enterprise = uow.enterprises.get(enterprise_id, lock=True)
    if enterprise is None:
        raise NotFound(f"no admitted enterprise {enterprise_id!r}", code="unknown_enterprise")
    return enterprise


def record_production_start(
    enterprise_id: str, started_on: date, uow: AbstractOnboardingUnitOfWork
) -> None:
    with uow:
        enterprise = _enterprise(uow, enterprise_id)
        with domain_rules():
            enterprise.record_production_start(started_on, uow.clock())
        uow.enterprises.save(enterprise)
        publish(uow, enterprise.events)
        uow.commit()


def end_lease(
    enterprise_id: str, unit_ids: list[str], uow: AbstractOnboardingUnitOfWork
) -> list[str]:
    with uow:
        enterprise = _enterprise(uow, enterprise_id)
        units = uow.units.get_many(enterprise.park_id, unit_ids, lock=True)
        unknown = sorted(set(unit_ids) - set(units))
        if unknown:
            raise NotFound(
                f"park {enterprise.park_id} has no unit {', '.join(unknown)}", code="unknown_unit"
            )
        with domain_rules():
            released = enterprise.end_lease(list(units.values()), uow.clock())
        uow.units.save(units.values())
        uow.enterprises.save(enterprise)
        publish(uow, enterprise.events)
        uow.commit()
    return list(released)


def reassign_chief_service_officer(
    enterprise_id: str, officer_id: str, uow: AbstractOnboardingUnitOfWork
) -> None:
    with uow:
        enterprise = _enterprise(uow, enterprise_id)
        roster = uow.parks.get(enterprise.park_id).policy.chief_service_officers
        with domain_rules():
            enterprise.reassign_chief_service_officer(officer_id, roster, uow.clock())
        uow.enterprises.save(enterprise)
        publish(uow, enterprise.events)
        uow.commit()


def log_service_visit(
    enterprise_id: str,
    officer_id: str,
    visited_on: date,
    note: str,
    visit_id: str | None,
    uow: AbstractOnboardingUnitOfWork,
) -> str:
    visit_id = visit_id or uow.new_id()
    with uow:
        enterprise = _enterprise(uow, enterprise_id)
        roster = {o.id for o in uow.parks.get(enterprise.park_id).policy.chief_service_officers}
        if officer_id not in roster:
            raise IllegalTransition(
                f"{officer_id!r} is not on park {enterprise.park_id}'s roster of service officers",
                code="unknown_service_officer",
            )
        with domain_rules():
            enterprise.log_service_visit(visit_id, officer_id, visited_on, note, uow.clock())
        uow.enterprises.save(enterprise)
        publish(uow, enterprise.events)
        uow.commit()
    return visit_id
