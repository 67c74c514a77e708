"""Use cases of the onboarding service: plain functions over a unit of work.

Each takes what it needs as parameters (``uow``, the calendar) and commits one
transaction holding the state change, its outbox events and its history rows.
"""

import logging
from collections.abc import Iterable, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from services.onboarding.domain.admission import AdmissionContext
from services.onboarding.domain.applications import (
    Application,
    ApplicationStatus,
    Withdrawer,
)
from services.onboarding.domain.errors import ApplicationClosed, DomainError
from services.onboarding.domain.events import (
    DocumentsRefused,
    DomainEvent,
    WithdrawalRefused,
    event_payload,
)
from services.onboarding.domain.park import ParkDefinition
from services.onboarding.domain.park_reload import ParkReload, raise_if_refused
from services.onboarding.domain.reasons import ReasonCode
from services.onboarding.domain.submissions import EnterpriseDetails, Submission
from services.onboarding.domain.timekeeping import park_date
from services.onboarding.domain.units import Unit
from services.onboarding.exceptions import IllegalTransition, NotFound
from services.onboarding.unit_of_work import AbstractOnboardingUnitOfWork
from shared.business_calendar import BusinessCalendar
from shared.contract.fields import utc_iso
from shared.messaging.errors import PermanentFailure, TransientFailure
from shared.messaging.unit_of_work import Cause

log = logging.getLogger(__name__)


def publish(uow: AbstractOnboardingUnitOfWork, events: Iterable[DomainEvent]) -> None:
    """Stage each domain event in the outbox and keep it in the history."""
    for domain_event in events:
        payload = event_payload(domain_event)
        envelope = uow.emit(domain_event.event_type, payload, park_id=domain_event.park_id)
        uow.history.append(
            application_id=payload.get("application_id"),
            enterprise_id=payload.get("enterprise_id"),
            event_type=domain_event.event_type,
            event_id=envelope["event_id"],
            occurred_at=domain_event.occurred_at,
            payload=envelope["payload"],
        )


# -- events from other systems ---------------------------------------------------------


def receive_application(
    payload: Mapping[str, Any],
    park_id: str | None,
    uow: AbstractOnboardingUnitOfWork,
    calendar: BusinessCalendar,
) -> None:
    """``portal/application_submitted``: reject with every reason, or reserve and review."""
    submission = Submission(
        application_id=payload["application_id"],
        park_id=park_id or "",
        enterprise=EnterpriseDetails(**payload["enterprise"]),
        tenure=payload["tenure"],
        requested_units=payload["requested_units"],
        documents=payload["documents"],
        supply_chain_partner=payload["supply_chain_partner"],
        lease_term_months=payload.get("lease_term_months"),
    )
    with uow:
        now = uow.clock()
        existing = uow.applications.get(submission.application_id, lock=True)
        if existing is not None:
            existing.resubmitted(submission, now)
            publish(uow, existing.events)
        else:
            park = uow.parks.get(submission.park_id) if park_id else None
            units = _requested_units(uow, park, submission)
            pending = uow.applications.pending(park.id, submission.enterprise.uscc) if park else []
            application = Application.receive(
                submission, park, units, now, calendar.add_business_days, pending=pending
            )
            uow.applications.add(application, uow.cause.correlation_id)
            uow.units.save(units.values())
            publish(uow, application.events)
        uow.commit()


def _requested_units(
    uow: AbstractOnboardingUnitOfWork, park: ParkDefinition | None, submission: Submission
) -> dict[str, Unit]:
    if park is None:
        return {}
    unit_ids = park.resolve_requested_units(submission.requested_units)
    return uow.units.get_many(park.id, unit_ids, lock=True)


def _not_seen_yet(application_id: str) -> TransientFailure:
    """What an event naming an application onboarding has not received raises.

    Events of different types arrive in any order (each subscription has its own
    queue): the ``application_submitted`` may still come, so this is a transient
    failure — the retry ladder, then a dead letter saying so — never a refusal.
    """
    return TransientFailure(
        f"application {application_id} is unknown: its application_submitted has not arrived (yet)"
    )


def decide_review(payload: Mapping[str, Any], uow: AbstractOnboardingUnitOfWork) -> None:
    """``gov/review_decided``: record a department's decision; admit on the last approval.

    A decision for an application not received yet is retried (:func:`_not_seen_yet`).
    """
    application_id = payload["application_id"]
    with uow:
        now = uow.clock()
        application = uow.applications.get(application_id, lock=True)
        if application is None:
            raise _not_seen_yet(application_id)
        units = uow.units.get_many(application.park_id, application.unit_ids, lock=True)
        # An application rejected on receipt may name a park that does not exist; it
        # is closed, so the decision is refused without needing the park's policy.
        park = uow.parks.get(application.park_id)
        context = (
            AdmissionContext(
                park.policy,
                uow.enterprises.active_per_officer(park.id),
                uow.new_id,
                existing=uow.enterprises.by_uscc(
                    park.id, application.submission.enterprise.uscc, lock=True
                ),
            )
            if park is not None
            else None
        )
        enterprise = application.record_decision(
            payload["department"],
            payload["decision"],
            payload["reason"],
            now,
            units=units,
            admission=context,
        )
        if enterprise is not None and enterprise is context.existing:
            uow.enterprises.save(enterprise)  # a second application joined it
        elif enterprise is not None:
            uow.enterprises.add(enterprise)
        uow.applications.save(application)
        uow.units.save(units.values())
        publish(uow, application.events)
        uow.commit()


def supply_documents(payload: Mapping[str, Any], uow: AbstractOnboardingUnitOfWork) -> None:
    """``portal/documents_supplied``: clear accept-with-deficiencies items.

    Documents for an application not received yet are retried (:func:`_not_seen_yet`);
    for a closed one they are refused with ``documents_refused``.
    """
    application_id = payload["application_id"]
    with uow:
        now = uow.clock()
        application = uow.applications.get(application_id, lock=True)
        if application is None:
            raise _not_seen_yet(application_id)
        units = uow.units.get_many(application.park_id, application.unit_ids, lock=True)
        try:
            application.supply_documents(payload["documents"], now, units=units)
        except ApplicationClosed as closed:
            application.events.append(
                DocumentsRefused(
                    occurred_at=now,
                    park_id=application.park_id,
                    application_id=application_id,
                    code=str(ReasonCode.APPLICATION_CLOSED),
                    message=str(closed),
                )
            )
        uow.applications.save(application)
        uow.units.save(units.values())
        publish(uow, application.events)
        uow.commit()


def settle_buyback(payload: Mapping[str, Any], uow: AbstractOnboardingUnitOfWork) -> None:
    """``buyback/claim_settled``: the bought-back units return to inventory.

    A settlement for an unknown enterprise, or for units it does not own (including a
    unit available now that this claim did not release), means the two services
    disagree about the park's property: it is dead-lettered with the reason naming
    each such unit for an operator, never half-applied nor silently skipped.
    """
    enterprise_id = payload["enterprise_id"]
    with uow:
        enterprise = uow.enterprises.get(enterprise_id, lock=True)
        if enterprise is None:
            raise PermanentFailure(f"claim {payload['claim_id']}: no enterprise {enterprise_id}")
        units = list(uow.units.get_many(enterprise.park_id, payload["units"], lock=True).values())
        released = uow.history.released_by_claim(enterprise_id, payload["claim_id"])
        try:
            enterprise.sell_back(
                units,
                payload["units"],
                payload["claim_id"],
                uow.clock(),
                released_by_claim=released,
            )
        except DomainError as error:
            raise PermanentFailure(f"{error.code}: {error}") from None
        uow.units.save(units)
        uow.enterprises.save(enterprise)
        publish(uow, enterprise.events)
        uow.commit()


def withdraw_by_applicant(payload: Mapping[str, Any], uow: AbstractOnboardingUnitOfWork) -> None:
    """``portal/application_withdrawn``: the applicant withdraws an application under review.

    An application not received yet is retried (:func:`_not_seen_yet`); a closed one is
    refused with ``withdrawal_refused``.
    """
    application_id = payload["application_id"]
    with uow:
        now = uow.clock()
        application = uow.applications.get(application_id, lock=True)
        if application is None:
            raise _not_seen_yet(application_id)
        units = uow.units.get_many(application.park_id, application.unit_ids, lock=True)
        try:
            application.withdraw(payload["reason"], Withdrawer.APPLICANT, now, units)
        except ApplicationClosed as closed:
            application.events.append(
                WithdrawalRefused(
                    occurred_at=now,
                    park_id=application.park_id,
                    application_id=application_id,
                    code=str(ReasonCode.APPLICATION_CLOSED),
                    message=str(closed),
                )
            )
        uow.applications.save(application)
        uow.units.save(units.values())
        publish(uow, application.events)
        uow.commit()


# -- the deadline timer ---------------------------------------------------------------


@dataclass
class DeadlineScan:
    """What one pass of the deadline timer did: how many applications changed, and the
    ids of those that failed (logged, left for the next pass)."""

    changed: int = 0
    failed: list[str] = field(default_factory=list)


def process_deadlines(uow: AbstractOnboardingUnitOfWork, batch: int = 100) -> DeadlineScan:
    """Suspend applications whose deficiency deadline passed before admission,
    escalate overdue items of admitted enterprises to their chief service officer, and
    end the leases whose term is over (their units return to inventory).

    Each application is handled in its own transaction, locked with SKIP LOCKED on
    PostgreSQL: two service instances scanning at once never act twice on one
    application (and a second pass finds nothing left to do). One that fails is logged,
    reported in ``failed`` and skipped until the next pass; it never stops the others,
    and applications are fetched ``batch`` at a time past those already tried, so a
    failing one cannot keep the rest waiting.
    """
    scan = DeadlineScan()
    _scan(
        scan,
        lambda tried: uow.applications.due(uow.clock(), batch, exclude=tried),
        lambda application_id: _process_deadline(uow, application_id),
        uow,
        "application",
    )
    _scan(
        scan,
        lambda tried: [
            enterprise_id
            for enterprise_id in uow.units.tenants_with_leases_over(
                park_date(uow.clock()), batch + len(tried)
            )
            if enterprise_id not in tried
        ],
        lambda enterprise_id: _end_leases_over(uow, enterprise_id),
        uow,
        "enterprise",
    )
    return scan


def _scan(scan: DeadlineScan, due, process, uow: AbstractOnboardingUnitOfWork, what: str) -> None:
    """Process each id ``due(tried)`` returns, each in its own transaction, until none
    is left that was not tried in this pass; one that fails is logged and skipped."""
    tried: set[str] = set()
    while True:
        with uow:
            ids = due(tried)
        if not ids:
            return
        for item_id in ids:
            tried.add(item_id)
            try:
                scan.changed += process(item_id)
            except Exception:
                log.exception("deadline scan: %s %s failed; next pass", what, item_id)
                scan.failed.append(item_id)


def _end_leases_over(uow: AbstractOnboardingUnitOfWork, enterprise_id: str) -> bool:
    """End the leases of ``enterprise_id`` whose term is over: the units return."""
    with uow:
        now = uow.clock()
        enterprise = uow.enterprises.get(enterprise_id, lock=True)
        if enterprise is None:
            raise PermanentFailure(f"units are leased to unknown enterprise {enterprise_id}")
        over = [
            u for u in uow.units.held_by(enterprise_id, lock=True) if u.lease_over(park_date(now))
        ]
        if not over:
            return False
        # The lease's end belongs to the flow of the application that started it.
        uow.cause = Cause(
            uow.applications.correlation_id(enterprise.application_id), None, enterprise.park_id
        )
        enterprise.end_lease(over, now)
        uow.units.save(over)
        uow.enterprises.save(enterprise)
        publish(uow, enterprise.events)
        uow.commit()
        return True


def _process_deadline(uow: AbstractOnboardingUnitOfWork, application_id: str) -> bool:
    with uow:
        now = uow.clock()
        application = uow.applications.get(application_id, lock=True, skip_locked=True)
        if application is None:
            return False  # another instance holds it right now
        # A suspension or escalation belongs to the application's own flow.
        uow.cause = Cause(
            uow.applications.correlation_id(application_id), None, application.park_id
        )
        units = uow.units.get_many(application.park_id, application.unit_ids, lock=True)
        if not application.suspend_if_overdue(now, units):
            application.escalate_overdue_review(now)
            if application.enterprise_id:
                enterprise = uow.enterprises.get(application.enterprise_id)
                application.escalate_overdue_items(now, enterprise.chief_service_officer)
        uow.applications.save(application)
        uow.units.save(units.values())
        publish(uow, application.events)
        uow.commit()
        return bool(application.events)


# -- operator actions (RPC) -----------------------------------------------------------


@contextmanager
def _domain_rules():
    """Report a broken domain rule to the RPC caller with the domain's own code."""
    try:
        yield
    except DomainError as error:
        raise IllegalTransition(str(error), code=error.code) from None


def _enterprise(uow: AbstractOnboardingUnitOfWork, enterprise_id: str):
    enterprise = uow.enterprises.get(enterprise_id, lock=True)
    if enterprise is None:
        raise NotFound(f"no admitted enterprise {enterprise_id!r}", code="unknown_enterprise")
    return enterprise


def withdraw_application(
    application_id: str, reason: str, uow: AbstractOnboardingUnitOfWork
) -> dict:
    """An operator withdraws an application under review; its units are released."""
    with uow:
        application = uow.applications.get(application_id, lock=True)
        if application is None:
            raise NotFound(f"no application {application_id!r}", code="unknown_application")
        units = uow.units.get_many(application.park_id, application.unit_ids, lock=True)
        with _domain_rules():
            application.withdraw(reason, Withdrawer.OPERATOR, uow.clock(), units)
        uow.applications.save(application)
        uow.units.save(units.values())
        publish(uow, application.events)
        uow.commit()
    return {"application_id": application_id, "status": str(application.status)}


def record_production_start(
    enterprise_id: str, started_on: date, uow: AbstractOnboardingUnitOfWork
) -> None:
    with uow:
        enterprise = _enterprise(uow, enterprise_id)
        with _domain_rules():
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
        with _domain_rules():
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
        with _domain_rules():
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
        with _domain_rules():
            enterprise.log_service_visit(visit_id, officer_id, visited_on, note, uow.clock())
        uow.enterprises.save(enterprise)
        publish(uow, enterprise.events)
        uow.commit()
    return visit_id


def query_units(
    park_id: str, status: str | None, building: str | None, uow: AbstractOnboardingUnitOfWork
) -> dict:
    """Units of a park (optionally one status or building) with occupancy figures."""
    with uow:
        if uow.parks.get(park_id) is None:
            raise NotFound(f"no park {park_id!r}", code="park_not_found")
        units = uow.units.search(park_id, status=status, building=building)
        figures = uow.units.occupancy(park_id, building)
    total_area = sum(f["area_m2"] for f in figures.values())
    occupied = figures["sold"]["area_m2"] + figures["leased"]["area_m2"]
    return {
        "park_id": park_id,
        "building": building,
        "by_status": figures,
        "total_units": sum(f["units"] for f in figures.values()),
        "total_area_m2": total_area,
        # basis points of area sold or leased, an integer: 7,500 = 75.00 %
        "occupancy_bp": occupied * 10_000 // total_area if total_area else 0,
        "units": [
            {
                "unit_id": u.unit_id,
                "building": u.building,
                "floor": u.floor,
                "room": u.room,
                "area_m2": u.area_m2,
                "status": str(u.status),
                "holder": u.holder,
                "contract_id": u.contract_id,
            }
            for u in units
        ],
    }


def list_applications(
    status: str | None,
    park_id: str | None,
    overdue_only: bool,
    uow: AbstractOnboardingUnitOfWork,
    limit: int = 200,
) -> list[dict]:
    """Applications by status and park, oldest first; ``overdue_only``: those under
    review past the park's review time limit or their deficiency deadline."""
    with uow:
        now = uow.clock()
        found = uow.applications.search(
            status=status, park_id=park_id, overdue_at=now if overdue_only else None, limit=limit
        )
    return [
        {
            "application_id": a.application_id,
            "park_id": a.park_id,
            "status": str(a.status),
            "enterprise_name": a.submission.enterprise.name,
            "uscc": a.submission.enterprise.uscc,
            "enterprise_id": a.enterprise_id,
            "received_at": utc_iso(a.received_at),
            "review_due_at": utc_iso(a.review_due_at) if a.review_due_at else None,
            "outstanding_items": list(a.outstanding_items),
            "pending_departments": [d for d in a.review_departments if d not in a.decisions]
            if a.status == ApplicationStatus.UNDER_REVIEW
            else [],
            "overdue": a.is_overdue(now),
        }
        for a in found
        if not overdue_only or a.is_overdue(now)
    ]


def officer_workload(park_id: str, uow: AbstractOnboardingUnitOfWork) -> dict:
    """Each officer on the park's roster with the enterprises they serve: ``active``
    (holding units now) and ``total`` (ever assigned and still theirs)."""
    with uow:
        park = uow.parks.get(park_id)
        if park is None:
            raise NotFound(f"no park {park_id!r}", code="park_not_found")
        counts = uow.enterprises.per_officer(park_id)
    roster = {officer.id: officer.name for officer in park.policy.chief_service_officers}
    # An officer no longer on the roster who still has enterprises is listed too.
    officer_ids = list(roster) + sorted(set(counts) - set(roster))
    return {
        "park_id": park_id,
        "officers": [
            {
                "officer_id": officer_id,
                "name": roster.get(officer_id),
                "active": counts.get(officer_id, (0, 0))[0],
                "total": counts.get(officer_id, (0, 0))[1],
            }
            for officer_id in officer_ids
        ],
    }


def application_history(application_id: str, uow: AbstractOnboardingUnitOfWork) -> dict:
    """An application's current state and every event it (and its enterprise) caused."""
    with uow:
        application = uow.applications.get(application_id)
        if application is None:
            raise NotFound(f"no application {application_id!r}", code="unknown_application")
        events = uow.history.of_application(application_id, application.enterprise_id)
    return {
        "application_id": application_id,
        "park_id": application.park_id,
        "status": str(application.status),
        "enterprise_id": application.enterprise_id,
        "outstanding_items": list(application.outstanding_items),
        "history": events,
    }


def load_parks(
    definitions: Iterable[tuple[ParkDefinition, str]], uow: AbstractOnboardingUnitOfWork
) -> dict[str, ParkReload]:
    """Store park definitions and bring their units in line (idempotent; see
    :mod:`~services.onboarding.domain.park_reload`): all parks or, when a file would
    change or remove a held unit, none (:class:`ParkReloadRefused` names every such unit)."""
    summary = {}
    with uow:
        now = uow.clock()
        for park, text in definitions:
            uow.parks.save(park, text, now)
            summary[park.id] = uow.units.reload(park)
        raise_if_refused(summary.values())
        uow.commit()
    return summary
