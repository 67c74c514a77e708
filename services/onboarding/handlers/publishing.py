"""How a use case publishes: each domain event staged in the outbox of its unit of
work (one transaction with the state change) and kept in the application's history."""

from collections.abc import Iterable

from services.onboarding.domain.events import DomainEvent, event_payload
from services.onboarding.unit_of_work import AbstractOnboardingUnitOfWork


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
