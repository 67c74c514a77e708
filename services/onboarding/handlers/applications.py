"""Applications from the portal: receipt, documents for accept-with-deficiencies items,
and withdrawal (by the applicant's event or an operator's RPC)."""

from collections.abc import Mapping
from typing import Any

from services.onboarding.domain.applications import Application, Withdrawer
from services.onboarding.domain.errors import ApplicationClosed
from services.onboarding.domain.events import DocumentsRefused, WithdrawalRefused
from services.onboarding.domain.park import ParkDefinition
from services.onboarding.domain.reasons import ReasonCode
from services.onboarding.domain.submissions import EnterpriseDetails, Submission
from services.onboarding.domain.units import Unit
from services.onboarding.exceptions import NotFound
from services.onboarding.handlers.failures import domain_rules, not_seen_yet
from services.onboarding.handlers.publishing import publish
from services.onboarding.unit_of_work import AbstractOnboardingUnitOfWork
from shared.business_calendar import BusinessCalendar


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


def supply_documents(payload: Mapping[str, Any], uow: AbstractOnboardingUnitOfWork) -> None:
    """``portal/documents_supplied``: clear accept-with-deficiencies items.

    Documents for an application not received yet are retried (:func:`not_seen_yet`);
    for a closed one they are refused with ``documents_refused``.
    """
    application_id = payload["application_id"]
    with uow:
        now = uow.clock()
        application = uow.applications.get(application_id, lock=True)
        if application is None:
            raise not_seen_yet(application_id)
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


def withdraw_by_applicant(payload: Mapping[str, Any], uow: AbstractOnboardingUnitOfWork) -> None:
    """``portal/application_withdrawn``: the applicant withdraws an application under review.

    An application not received yet is retried (:func:`not_seen_yet`); a closed one is
    refused with ``withdrawal_refused``.
    """
    application_id = payload["application_id"]
    with uow:
        now = uow.clock()
        application = uow.applications.get(application_id, lock=True)
        if application is None:
            raise not_seen_yet(application_id)
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


def withdraw_application(
    application_id: str, reason: str, uow: AbstractOnboardingUnitOfWork
) -> dict:
    """An operator withdraws an application under review; its units are released."""
    with uow:
        application = uow.applications.get(application_id, lock=True)
        if application is None:
            raise NotFound(f"no application {application_id!r}", code="unknown_application")
        units = uow.units.get_many(application.park_id, application.unit_ids, lock=True)
        with domain_rules():
            application.withdraw(reason, Withdrawer.OPERATOR, uow.clock(), units)
        uow.applications.save(application)
        uow.units.save(units.values())
        publish(uow, application.events)
        uow.commit()
    return {"application_id": application_id, "status": str(application.status)}
