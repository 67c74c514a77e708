"""The deadline timer: every wait of a claim has one, and a defined action when it passes."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import structlog

from services.buyback.handlers.publishing import store
from services.buyback.unit_of_work import AbstractBuybackUnitOfWork

log = structlog.get_logger(__name__)
std_log = logging.getLogger(__name__)
SCAN_BATCH = 50
MAX_BATCHES = 100


@dataclass
class DeadlineScan:
    """What one pass of the timer did."""

    checked: int = 0
    acted: int = 0
    failed: list[str] = field(default_factory=list)


def scan_deadlines(uow: AbstractBuybackUnitOfWork, batch: int = SCAN_BATCH) -> DeadlineScan:
    """Act on every claim whose indexed ``next_due_at`` has passed: escalate a stalled
    review, resend (once) then escalate a settlement billing has not answered, make a
    claim whose units were not released ``stuck`` and escalate it.

    Batches of due claims taken with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (a second
    scanner takes others); each action moves or clears ``next_due_at`` in the same
    transaction as its events, so after a crash the next pass resumes exactly where
    this one stopped. A claim that fails is logged and left for the next pass."""
    scan = DeadlineScan()
    for _ in range(MAX_BATCHES):
        with uow:
            now = uow.clock()
            found = uow.claims.due(now, batch + len(scan.failed))
            due = [c for c in found if c.claim_id not in scan.failed]
            failed, acted = None, 0
            for claim in due:
                try:
                    if claim.check_deadlines(now, uow.rules.deadlines(claim.park_id)):
                        acted += 1
                        for event in claim.events:
                            log.warning(
                                "claim deadline passed",
                                claim_id=claim.claim_id,
                                action=event.event_type,
                                stage=getattr(event, "stage", None),
                                state=str(claim.state),
                            )
                    store(uow, claim)
                except Exception:
                    std_log.exception("deadline check of claim %s failed", claim.claim_id)
                    failed = claim.claim_id
                    break
            if failed is None:
                uow.commit()
                scan.checked += len(due)
                scan.acted += acted
                if len(found) < batch + len(scan.failed):
                    return scan
                continue
        scan.failed.append(failed)
    return scan
