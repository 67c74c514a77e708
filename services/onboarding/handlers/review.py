"""The joint review (联审联批): a department's decision, and admission on the last
approval."""

from collections.abc import Mapping
from typing import Any

from services.onboarding.domain.admission import AdmissionContext
from services.onboarding.handlers.failures import not_seen_yet
from services.onboarding.handlers.publishing import publish
from services.onboarding.unit_of_work import AbstractOnboardingUnitOfWork


def decide_review(payload: Mapping[str, Any], uow: AbstractOnboardingUnitOfWork) -> None:
    """``gov/review_decided``: record a department's decision; admit on the last approval.

    A decision for an application not received yet is retried (:func:`not_seen_yet`).
    """
    application_id = payload["application_id"]
    with uow:
        now = uow.clock()
        application = uow.applications.get(application_id, lock=True)
        if application is None:
            raise not_seen_yet(application_id)
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
