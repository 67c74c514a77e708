"""How a use case publishes: each event a claim caused staged in the outbox of its unit
of work (one transaction with the state change), and every step — event or not — kept
in the claim's history."""

from __future__ import annotations

from collections.abc import Iterable

from services.buyback.domain.claims import Claim
from services.buyback.domain.events import DomainEvent
from services.buyback.unit_of_work import AbstractBuybackUnitOfWork
from shared.payloads import event_payload, jsonable


def publish(
    uow: AbstractBuybackUnitOfWork,
    events: Iterable[DomainEvent],
    *,
    sender: str | None = None,
) -> None:
    """Stage each event in the outbox and append it to its claim's history, with the
    verified ``sender`` of the message that caused it (None: the timer or an operator's
    RPC / CLI)."""
    for domain_event in events:
        envelope = uow.emit(
            domain_event.event_type, event_payload(domain_event), park_id=domain_event.park_id
        )
        uow.history.append(
            domain_event.claim_id,
            domain_event.event_type,
            domain_event.occurred_at,
            envelope["payload"],
            envelope["event_id"],
            sender=sender,
        )


def store(
    uow: AbstractBuybackUnitOfWork,
    claim: Claim,
    *,
    new: bool = False,
    sender: str | None = None,
) -> None:
    """Save the claim, its notes into its history and its events into the outbox; each
    step with the verified ``sender`` of the message that caused it."""
    if new:
        uow.claims.add(claim)
    else:
        uow.claims.save(claim)
    for note in claim.notes:
        uow.history.append(claim.claim_id, note.step, note.at, jsonable(note.detail), sender=sender)
    publish(uow, claim.events, sender=sender)
    claim.notes.clear()
    claim.events.clear()
