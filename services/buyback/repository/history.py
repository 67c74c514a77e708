"""The steps of each claim, in the order they happened."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from services.buyback import orm
from services.buyback.repository.base import AbstractHistoryRepository
from shared.clock import as_utc
from shared.contract.fields import utc_iso


class HistoryRepository(AbstractHistoryRepository):
    def __init__(self, session: Session):
        self.session = session

    def append(
        self,
        claim_id: str,
        step: str,
        at: datetime,
        detail: dict[str, Any],
        event_id: str | None = None,
        *,
        sender: str | None = None,
    ) -> None:
        self.session.execute(
            insert(orm.claim_steps).values(
                claim_id=claim_id,
                step=step,
                at=at,
                event_id=event_id,
                sender=sender,
                detail=detail,
            )
        )

    def of(self, claim_id: str) -> list[dict[str, Any]]:
        rows = self.session.execute(
            select(orm.claim_steps)
            .where(orm.claim_steps.c.claim_id == claim_id)
            .order_by(orm.claim_steps.c.step_id)
        )
        return [
            {
                "step": row.step,
                "at": utc_iso(as_utc(row.at)),
                "event_id": row.event_id,
                "sender": row.sender,
                "detail": row.detail,
            }
            for row in rows
        ]
