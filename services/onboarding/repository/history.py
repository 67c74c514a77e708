"""Every event an application and its enterprise caused, in order (the
``application_history`` view, and which units a buyback claim already released)."""

from abc import ABC, abstractmethod
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from services.onboarding import orm
from shared.clock import as_utc
from shared.contract.fields import utc_iso


class AbstractHistoryRepository(ABC):
    """Every domain event of an application and its enterprise, for operators."""

    @abstractmethod
    def append(
        self,
        *,
        application_id: str | None,
        enterprise_id: str | None,
        event_type: str,
        event_id: str,
        occurred_at: datetime,
        payload: dict,
    ) -> None: ...

    @abstractmethod
    def of_application(self, application_id: str, enterprise_id: str | None) -> list[dict]: ...

    @abstractmethod
    def released_by_claim(self, enterprise_id: str, claim_id: str) -> set[str]:
        """The units a buyback claim already released from this enterprise."""


class HistoryRepository(AbstractHistoryRepository):
    def __init__(self, session: Session):
        self.session = session

    def append(
        self,
        *,
        application_id: str | None,
        enterprise_id: str | None,
        event_type: str,
        event_id: str,
        occurred_at: datetime,
        payload: dict,
    ) -> None:
        self.session.execute(
            insert(orm.history).values(
                application_id=application_id,
                enterprise_id=enterprise_id,
                event_type=event_type,
                event_id=event_id,
                occurred_at=occurred_at,
                payload=payload,
            )
        )

    def released_by_claim(self, enterprise_id: str, claim_id: str) -> set[str]:
        payloads = self.session.scalars(
            select(orm.history.c.payload).where(
                orm.history.c.enterprise_id == enterprise_id,
                orm.history.c.event_type == "units_released",
            )
        )
        return {
            unit_id
            for payload in payloads
            if payload.get("claim_id") == claim_id
            for unit_id in payload["units"]
        }

    def of_application(self, application_id: str, enterprise_id: str | None) -> list[dict]:
        condition = orm.history.c.application_id == application_id
        if enterprise_id:
            condition = condition | (orm.history.c.enterprise_id == enterprise_id)
        rows = self.session.execute(
            select(orm.history).where(condition).order_by(orm.history.c.id)
        ).mappings()
        return [
            {
                "event_type": r["event_type"],
                "event_id": r["event_id"],
                "occurred_at": utc_iso(as_utc(r["occurred_at"])),
                "payload": r["payload"],
            }
            for r in rows
        ]
