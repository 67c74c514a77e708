"""Claims: the aggregate as a JSON document, queried by its columns."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select, tuple_, update
from sqlalchemy.orm import Session

from services.buyback import orm
from services.buyback.domain.claim_document import claim_from_document, claim_to_document
from services.buyback.domain.claims import OPEN_STATES, Claim, ClaimState
from services.buyback.repository.base import AbstractClaimRepository
from services.buyback.repository.sql import locked

_SETTLED_WAITING = (str(ClaimState.AWAITING_RELEASE), str(ClaimState.STUCK))


class ClaimRepository(AbstractClaimRepository):
    def __init__(self, session: Session):
        self.session = session

    def _many(self, statement) -> list[Claim]:
        return [claim_from_document(state) for state in self.session.execute(statement).scalars()]

    def get(self, claim_id: str, *, lock: bool = False) -> Claim | None:
        statement = select(orm.claims.c.state).where(orm.claims.c.claim_id == claim_id)
        found = self._many(locked(statement, self.session) if lock else statement)
        return found[0] if found else None

    def open_claim_of(self, enterprise_id: str) -> Claim | None:
        statement = (
            select(orm.claims.c.state)
            .where(
                orm.claims.c.enterprise_id == enterprise_id,
                orm.claims.c.status.in_([str(s) for s in OPEN_STATES]),
            )
            .order_by(orm.claims.c.filed_at)
            .limit(1)
        )
        found = self._many(statement)
        return found[0] if found else None

    def _columns(self, claim: Claim) -> dict:
        return {
            "enterprise_id": claim.enterprise_id,
            "park_id": claim.park_id,
            "status": str(claim.state),
            "filed_at": claim.filed_at,
            "next_due_at": claim.next_due_at,
            "state": claim_to_document(claim),
        }

    def add(self, claim: Claim) -> None:
        self.session.execute(
            insert(orm.claims).values(claim_id=claim.claim_id, **self._columns(claim))
        )

    def save(self, claim: Claim) -> None:
        self.session.execute(
            update(orm.claims)
            .where(orm.claims.c.claim_id == claim.claim_id)
            .values(**self._columns(claim))
        )

    def due(self, now: datetime, limit: int) -> list[Claim]:
        statement = (
            select(orm.claims.c.state)
            .where(orm.claims.c.next_due_at <= now)
            .order_by(orm.claims.c.next_due_at, orm.claims.c.claim_id)
            .limit(limit)
        )
        return self._many(locked(statement, self.session, skip_locked=True))

    def query(
        self, state: str | None, limit: int, before: tuple[datetime, str] | None = None
    ) -> list[Claim]:
        filed_at, claim_id = orm.claims.c.filed_at, orm.claims.c.claim_id
        statement = select(orm.claims.c.state).order_by(filed_at.desc(), claim_id.desc())
        if state is not None:
            statement = statement.where(orm.claims.c.status == state)
        if before is not None:
            statement = statement.where(tuple_(filed_at, claim_id) < tuple_(*before))
        return self._many(statement.limit(limit))

    def settled_units(self) -> frozenset[tuple[str | None, str]]:
        statement = select(orm.claims.c.state).where(orm.claims.c.status.in_(_SETTLED_WAITING))
        return frozenset(
            (claim.park_id, u.unit_id) for claim in self._many(statement) for u in claim.units
        )
