"""Operators' read-only views: units and occupancy, applications, officers' workload,
an application's history."""

from services.onboarding.domain.applications import ApplicationStatus
from services.onboarding.exceptions import NotFound
from services.onboarding.unit_of_work import AbstractOnboardingUnitOfWork
from shared.contract.fields import utc_iso


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
