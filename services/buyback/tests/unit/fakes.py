"""An in-memory unit of work for the use cases in ``services/buyback/handlers/``.

Each fake subclasses the abstract interface the real one implements. Objects are stored
as their JSON documents, as the database stores them: leaving ``with uow:`` without
``commit()`` restores what was there before. Every staged event is checked against the
contract (``shared.contract.build``), exactly as the real outbox checks it.
"""

from __future__ import annotations

import copy
import itertools
from datetime import UTC, datetime

from services.buyback.domain.claim_document import claim_from_document, claim_to_document
from services.buyback.domain.claims import OPEN_STATES, ClaimState
from services.buyback.domain.holdings import Holding
from services.buyback.domain.policy import BuybackPolicy
from services.buyback.repository.base import (
    AbstractClaimRepository,
    AbstractHistoryRepository,
    AbstractHoldingRepository,
)
from services.buyback.unit_of_work import AbstractBuybackUnitOfWork, BuybackRules
from shared.contract import build
from shared.messaging.unit_of_work import Cause

#: The parks the fake knows (a park file each, default deadlines); any other is unknown.
PARKS = ("aux-shangjie", "shangjie-equipment")

#: Friday 2026-11-27 10:00 Asia/Shanghai.
NOW = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)


class Store:
    def __init__(self) -> None:
        self.holdings: dict[str, dict] = {}
        self.claims: dict[str, dict] = {}
        self.steps: list[dict] = []
        self.outbox: list[dict] = []


class FakeHoldings(AbstractHoldingRepository):
    def __init__(self, store: Store):
        self.store = store

    def get(self, enterprise_id, *, lock=False):
        state = self.store.holdings.get(enterprise_id)
        return Holding.from_state(enterprise_id, copy.deepcopy(state)) if state else None

    def get_for_update(self, enterprise_id, now):
        if enterprise_id not in self.store.holdings:
            self.store.holdings[enterprise_id] = Holding(enterprise_id).to_state()
        return self.get(enterprise_id)

    def save(self, holding, now):
        self.store.holdings[holding.enterprise_id] = copy.deepcopy(holding.to_state())

    def all(self):
        return [Holding.from_state(k, copy.deepcopy(v)) for k, v in self.store.holdings.items()]

    def of_park(self, park_id):
        return [h for h in self.all() if h.park_id == park_id]

    def parks(self):
        return sorted({h.park_id for h in self.all() if h.park_id is not None})


class FakeClaims(AbstractClaimRepository):
    def __init__(self, store: Store):
        self.store = store

    def _load(self, state):
        return claim_from_document(copy.deepcopy(state))

    def get(self, claim_id, *, lock=False):
        state = self.store.claims.get(claim_id)
        return self._load(state) if state else None

    def open_claim_of(self, enterprise_id):
        for state in self.store.claims.values():
            if state["enterprise_id"] == enterprise_id and state["state"] in OPEN_STATES:
                return self._load(state)
        return None

    def add(self, claim):
        if claim.claim_id in self.store.claims:
            raise KeyError(f"duplicate key {claim.claim_id}")
        self.store.claims[claim.claim_id] = copy.deepcopy(claim_to_document(claim))

    def save(self, claim):
        self.store.claims[claim.claim_id] = copy.deepcopy(claim_to_document(claim))

    def due(self, now, limit):
        claims = [self._load(s) for s in self.store.claims.values()]
        due = [c for c in claims if c.next_due_at is not None and c.next_due_at <= now]
        return sorted(due, key=lambda c: (c.next_due_at, c.claim_id))[:limit]

    def query(self, state, limit, before=None):
        claims = [self._load(s) for s in self.store.claims.values()]
        claims.sort(key=lambda c: (c.filed_at, c.claim_id), reverse=True)
        return [
            c
            for c in claims
            if (state is None or str(c.state) == state)
            and (before is None or (c.filed_at, c.claim_id) < before)
        ][:limit]

    def settled_units(self):
        waiting = {ClaimState.AWAITING_RELEASE, ClaimState.STUCK}
        return frozenset(
            (c.park_id, u.unit_id)
            for s in self.store.claims.values()
            for c in [self._load(s)]
            if c.state in waiting
            for u in c.units
        )


class FakeHistory(AbstractHistoryRepository):
    def __init__(self, store: Store):
        self.store = store

    def append(self, claim_id, step, at, detail, event_id=None, *, sender=None):
        self.store.steps.append(
            {
                "claim_id": claim_id,
                "step": step,
                "at": at,
                "event_id": event_id,
                "sender": sender,
                "detail": detail,
            }
        )

    def of(self, claim_id):
        return [s for s in self.store.steps if s["claim_id"] == claim_id]


class FakeUnitOfWork(AbstractBuybackUnitOfWork):
    def __init__(self, now: datetime = NOW, rules: BuybackRules | None = None):
        self.store = Store()
        self.now = now
        self.clock = lambda: self.now
        self._ids = itertools.count(1)
        self.new_id = lambda: f"00000000-0000-4000-8000-{next(self._ids):012d}"
        self.cause = Cause()
        self.rules = rules or BuybackRules({park: BuybackPolicy(park) for park in PARKS})
        self.commits = 0
        self.holdings = FakeHoldings(self.store)
        self.claims = FakeClaims(self.store)
        self.history = FakeHistory(self.store)

    def __enter__(self):
        self._snapshot = copy.deepcopy(
            (self.store.holdings, self.store.claims, self.store.steps, self.store.outbox)
        )
        self._committed = False
        return self

    def __exit__(self, *exc_info):
        if not self._committed:
            (
                self.store.holdings,
                self.store.claims,
                self.store.steps,
                self.store.outbox,
            ) = self._snapshot
            self.holdings.store = self.claims.store = self.history.store = self.store

    def commit(self):
        self._committed = True
        self.commits += 1

    def emit(self, type_, payload, *, park_id=None, version=1):
        envelope = build(
            "buyback",
            type_,
            payload,
            occurred_at=self.now,
            park_id=park_id,
            new_id=self.new_id,
        )
        self.store.outbox.append(envelope)
        return envelope

    # -- what tests read --------------------------------------------------------------------

    def events(self, type_: str | None = None) -> list[dict]:
        return [e for e in self.store.outbox if type_ is None or e["type"] == type_]

    def types(self) -> list[str]:
        return [e["type"] for e in self.store.outbox]
