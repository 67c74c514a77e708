"""The deadline timer: deficiency deadlines, overdue reviews and escalations, and
leases whose term is over."""

import logging
from dataclasses import dataclass, field

from services.onboarding.domain.timekeeping import park_date
from services.onboarding.handlers.publishing import publish
from services.onboarding.unit_of_work import AbstractOnboardingUnitOfWork
from shared.messaging.errors import PermanentFailure
from shared.messaging.unit_of_work import Cause

log = logging.getLogger(__name__)


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
