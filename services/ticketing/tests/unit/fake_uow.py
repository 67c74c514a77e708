"""An in-memory unit of work for the use cases in ``services/ticketing/handlers.py``.

Each fake subclasses the abstract interface the real one implements, so a handler test
breaks when the interface changes. Objects are copied in and out, as a database would:
leaving ``with uow:`` without ``commit()`` restores what was there before. Every staged
message is checked against the contract (``shared.contract.build``), exactly as the real
outbox checks it.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterable
from datetime import UTC, datetime

from services.ticketing.domain.tickets import HELD_STATES, Ticket, TicketStatus
from services.ticketing.repository import (
    AbstractEnterpriseRepository,
    AbstractFirmRepository,
    AbstractTicketRepository,
    EnterpriseRecord,
    FirmRecord,
    TicketQuery,
)
from services.ticketing.unit_of_work import AbstractTicketingUnitOfWork, default_rules
from shared.contract import build
from shared.messaging.topology import events_exchange
from shared.messaging.unit_of_work import Cause

#: Monday 2026-11-23 10:00 Asia/Shanghai.
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


class FakeStore:
    def __init__(self) -> None:
        self.firms: dict[str, FirmRecord] = {}
        self.enterprises: dict[str, EnterpriseRecord] = {}
        self.tickets: dict[str, tuple[Ticket, datetime | None]] = {}
        self.withdrawn: set[str] = set()
        self.outbox: list[dict] = []


def _copy(value):
    duplicate = copy.deepcopy(value)
    if isinstance(duplicate, Ticket):
        duplicate.events = []
    return duplicate


class FakeFirms(AbstractFirmRepository):
    def __init__(self, store: FakeStore):
        self.store = store

    def get(self, firm_id, *, lock=False):
        record = self.store.firms.get(firm_id)
        return _copy(record) if record else None

    def save(self, record, now):
        self.store.firms[record.firm_id] = _copy(record)

    def all(self):
        return [_copy(self.store.firms[k]) for k in sorted(self.store.firms)]

    def lock_for_routing(self, park_id):
        return [r for r in self.all() if park_id is None or r.park_id in (park_id, None)]

    def record_sequences(self, last_assigned):
        for firm_id, sequence in last_assigned.items():
            record = self.store.firms.get(firm_id)
            if record is not None and record.last_assigned < sequence:
                record.last_assigned = sequence


class FakeEnterprises(AbstractEnterpriseRepository):
    def __init__(self, store: FakeStore):
        self.store = store

    def get(self, enterprise_id):
        record = self.store.enterprises.get(enterprise_id)
        return _copy(record) if record else None

    def save(self, record):
        self.store.enterprises[record.card.enterprise_id] = _copy(record)

    def set_officer(self, enterprise_id, officer):
        record = self.store.enterprises.get(enterprise_id)
        if record is None:
            return False
        record.chief_service_officer = officer
        return True


class FakeTickets(AbstractTicketRepository):
    def __init__(self, store: FakeStore):
        self.store = store

    def _all(self) -> list[Ticket]:
        return [
            _copy(t)
            for t, _ in sorted(
                self.store.tickets.values(), key=lambda p: (p[0].opened_at, p[0].ticket_id)
            )
        ]

    def get(self, ticket_id, *, lock=False):
        found = self.store.tickets.get(ticket_id)
        return _copy(found[0]) if found else None

    def by_origin_key(self, key, *, lock=False):
        return next((t for t in self._all() if t.origin_key == key), None)

    def add(self, ticket, next_due):
        if ticket.ticket_id in self.store.tickets or self.by_origin_key(ticket.origin_key):
            raise RuntimeError("unique violation")
        self.store.tickets[ticket.ticket_id] = (_copy(ticket), next_due)

    def save(self, ticket, next_due):
        self.store.tickets[ticket.ticket_id] = (_copy(ticket), next_due)

    def waiting(self, park_id):
        return [
            t
            for t in self._all()
            if t.status == TicketStatus.OPEN and (park_id is None or t.park_id == park_id)
        ]

    def waiting_parks(self, park_id):
        parks = {t.park_id for t in self.waiting(park_id)}
        return sorted(parks, key=lambda p: p or "")

    def held_by(self, firm_id):
        return [t for t in self._all() if t.firm_id == firm_id and t.status in HELD_STATES]

    def load_by_firm(self, firm_ids: Iterable[str]):
        ids = set(firm_ids)
        loads: dict[str, int] = {}
        for t in self._all():
            if t.firm_id in ids and t.status in HELD_STATES:
                loads[t.firm_id] = loads.get(t.firm_id, 0) + 1
        return loads

    def for_claim(self, claim_id, *, lock=True):
        return [t for t in self._all() if t.claim_id == claim_id]

    def due(self, now, limit):
        due = sorted(
            (d, t.ticket_id) for t, d in self.store.tickets.values() if d is not None and d <= now
        )
        return [self.get(ticket_id) for _, ticket_id in due[:limit]]

    def opened_between(self, park_id, since, until):
        return [t for t in self._all() if t.park_id == park_id and since <= t.opened_at < until]

    def query(self, query: TicketQuery):
        found = [
            t
            for t in self._all()
            if all(
                getattr(query, name) is None or str(getattr(t, name)) == getattr(query, name)
                for name in ("park_id", "status", "firm_id", "enterprise_id", "service_code")
            )
        ]
        return found[: query.limit]

    def claim_withdrawn(self, claim_id):
        return claim_id in self.store.withdrawn

    def record_claim_withdrawn(self, claim_id, reason, now):
        self.store.withdrawn.add(claim_id)


class FakeUnitOfWork(AbstractTicketingUnitOfWork):
    def __init__(self, store: FakeStore | None = None, clock=None, rules=None):
        self.store = store or FakeStore()
        self.now = NOW
        self.clock = clock or (lambda: self.now)
        ids = itertools.count(1)
        self.new_id = lambda: f"00000000-0000-4000-8000-{next(ids):012d}"
        self.cause = Cause()
        self.rules = rules or default_rules()
        self.commits = 0

    def __enter__(self):
        self._saved = copy.deepcopy(self.store)
        self.firms = FakeFirms(self.store)
        self.enterprises = FakeEnterprises(self.store)
        self.tickets = FakeTickets(self.store)
        self._committed = False
        return self

    def __exit__(self, *exc_info):
        if not self._committed:
            self.store.__dict__.update(self._saved.__dict__)

    def commit(self):
        self._committed = True
        self.commits += 1

    def emit(self, type_, payload, *, park_id=None, version=1):
        return self.send(events_exchange("ticketing"), type_, type_, payload, park_id=park_id)

    def send(self, exchange, routing_key, type_, payload, *, park_id=None, version=1):
        envelope = build(
            "ticketing",
            type_,
            payload,
            occurred_at=self.clock(),
            correlation_id=self.new_id(),
            park_id=park_id,
            new_id=self.new_id,
        )
        self.store.outbox.append(
            {"exchange": exchange, "routing_key": routing_key, "type": type_, **envelope}
        )
        return envelope

    # -- what tests read ---------------------------------------------------------------

    def sent(self, type_: str | None = None) -> list[dict]:
        return [m for m in self.store.outbox if type_ is None or m["type"] == type_]
