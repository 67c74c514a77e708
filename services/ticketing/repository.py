"""SQLAlchemy 2 repositories of the ticketing service: rows ↔ domain objects.

Locks: ``lock=True`` reads take ``SELECT … FOR UPDATE`` on PostgreSQL (SQLite serialises
writers instead). Routing locks the park's firm rows in ``firm_id`` order
(:meth:`FirmRepository.lock_for_routing`), so two transactions routing at once queue up
and never both fill a firm's last slot. The SLA scan takes its due tickets with
``FOR UPDATE SKIP LOCKED``: two scanners split the work instead of warning twice.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from services.ticketing import orm
from services.ticketing.domain.catalogue import FirmKind
from services.ticketing.domain.events import EnterpriseCard
from services.ticketing.domain.firm_directory import Contact, Firm, FirmId
from services.ticketing.domain.sla import ClockKind, SlaClock
from services.ticketing.domain.tickets import (
    HELD_STATES,
    FeePolicy,
    Origin,
    Priority,
    Review,
    ServiceTerms,
    Ticket,
    TicketStatus,
)
from shared.clock import as_utc
from shared.contract.fields import utc_iso


@dataclass
class FirmRecord:
    """A registered firm: the directory's :class:`Firm`, the park it serves (``None``:
    every park), whether it takes work, and its round-robin sequence."""

    firm: Firm
    park_id: str | None = None
    active: bool = True
    last_assigned: int = 0
    disabled_reason: str | None = None

    @property
    def firm_id(self) -> str:
        return self.firm.firm_id.value


@dataclass
class EnterpriseRecord:
    """The projection of one admitted enterprise."""

    card: EnterpriseCard
    park_id: str | None
    chief_service_officer: str | None
    admitted_at: datetime


@dataclass
class TicketQuery:
    park_id: str | None = None
    status: str | None = None
    firm_id: str | None = None
    enterprise_id: str | None = None
    service_code: str | None = None
    limit: int = 200
    extra: dict[str, Any] = field(default_factory=dict)


# -- abstract ---------------------------------------------------------------------------


class AbstractFirmRepository(ABC):
    @abstractmethod
    def get(self, firm_id: str, *, lock: bool = False) -> FirmRecord | None: ...

    @abstractmethod
    def save(self, record: FirmRecord, now: datetime) -> None: ...

    @abstractmethod
    def all(self) -> list[FirmRecord]: ...

    @abstractmethod
    def lock_for_routing(self, park_id: str | None) -> list[FirmRecord]:
        """The firms serving ``park_id`` (and every park), locked in id order."""

    @abstractmethod
    def record_sequences(self, last_assigned: dict[str, int]) -> None: ...


class AbstractEnterpriseRepository(ABC):
    @abstractmethod
    def get(self, enterprise_id: str) -> EnterpriseRecord | None: ...

    @abstractmethod
    def save(self, record: EnterpriseRecord) -> None: ...

    @abstractmethod
    def set_officer(self, enterprise_id: str, officer: str) -> bool: ...


class AbstractTicketRepository(ABC):
    @abstractmethod
    def get(self, ticket_id: str, *, lock: bool = False) -> Ticket | None: ...

    @abstractmethod
    def by_origin_key(self, key: str, *, lock: bool = False) -> Ticket | None: ...

    @abstractmethod
    def add(self, ticket: Ticket, next_due: datetime | None) -> None: ...

    @abstractmethod
    def save(self, ticket: Ticket, next_due: datetime | None) -> None: ...

    @abstractmethod
    def waiting(self, park_id: str | None) -> list[Ticket]:
        """Open, unassigned tickets of ``park_id`` (every park when ``None``), locked."""

    @abstractmethod
    def waiting_parks(self, park_id: str | None) -> list[str | None]:
        """The parks (``park_id`` alone, or every park when ``None``) that have open,
        unassigned tickets; read without locks (routing locks firms first)."""

    @abstractmethod
    def held_by(self, firm_id: str) -> list[Ticket]:
        """Tickets ``firm_id`` holds, locked."""

    @abstractmethod
    def load_by_firm(self, firm_ids: Iterable[str]) -> dict[str, int]:
        """Held tickets per firm."""

    @abstractmethod
    def for_claim(self, claim_id: str, *, lock: bool = True) -> list[Ticket]: ...

    @abstractmethod
    def due(self, now: datetime, limit: int) -> list[Ticket]:
        """Tickets with ``next_sla_due_at <= now``, oldest due first, locked (skipping
        those another scanner holds)."""

    @abstractmethod
    def opened_between(self, park_id: str, since: datetime, until: datetime) -> list[Ticket]: ...

    @abstractmethod
    def query(self, query: TicketQuery) -> list[Ticket]: ...

    @abstractmethod
    def claim_withdrawn(self, claim_id: str) -> bool: ...

    @abstractmethod
    def record_claim_withdrawn(self, claim_id: str, reason: str, now: datetime) -> None: ...


# -- ticket state <-> JSON --------------------------------------------------------------


def _dt(value: datetime | None) -> str | None:
    return utc_iso(value) if value is not None else None


def _parse_dt(value: str | None) -> datetime | None:
    return as_utc(datetime.fromisoformat(value.replace("Z", "+00:00"))) if value else None


def _clock_state(clock: SlaClock) -> dict[str, Any]:
    return {
        "kind": clock.kind.value,
        "budget_seconds": clock.budget.total_seconds(),
        "started_at": _dt(clock.started_at),
        "consumed_seconds": clock.consumed.total_seconds(),
        "running_since": _dt(clock.running_since),
        "paused_at": _dt(clock.paused_at),
        "stopped_at": _dt(clock.stopped_at),
        "warned_at": _dt(clock.warned_at),
        "breached_at": _dt(clock.breached_at),
        "escalated_at": _dt(clock.escalated_at),
    }


def _clock(state: dict[str, Any]) -> SlaClock:
    return SlaClock(
        kind=ClockKind(state["kind"]),
        budget=timedelta(seconds=state["budget_seconds"]),
        started_at=_parse_dt(state["started_at"]),
        consumed=timedelta(seconds=state["consumed_seconds"]),
        running_since=_parse_dt(state["running_since"]),
        paused_at=_parse_dt(state["paused_at"]),
        stopped_at=_parse_dt(state["stopped_at"]),
        warned_at=_parse_dt(state["warned_at"]),
        breached_at=_parse_dt(state["breached_at"]),
        escalated_at=_parse_dt(state["escalated_at"]),
    )


_TIMES = (
    "opened_at",
    "assigned_at",
    "accepted_at",
    "resolved_at",
    "rated_at",
    "closed_at",
    "cancelled_at",
)
_PLAIN = (
    "ticket_id",
    "park_id",
    "enterprise_id",
    "description",
    "request_id",
    "claim_id",
    "firm_id",
    "resolved_by",
    "outcome",
    "fee_fen",
    "rating_score",
    "rating_comment",
    "cancel_reason",
)


def ticket_state(ticket: Ticket) -> dict[str, Any]:
    """The whole aggregate as a JSON document (its ``events`` are not state)."""
    terms = ticket.terms
    state: dict[str, Any] = {name: getattr(ticket, name) for name in _PLAIN}
    state |= {name: _dt(getattr(ticket, name)) for name in _TIMES}
    state |= {
        "origin": ticket.origin.value,
        "priority": ticket.priority.value,
        "review": ticket.review.value if ticket.review else None,
        "status": ticket.status.value,
        "declined_firms": list(ticket.declined_firms),
        "previous_firms": list(ticket.previous_firms),
        "resolution_before_assignment": (
            None
            if ticket.resolution_before_assignment is None
            else {
                "consumed_seconds": ticket.resolution_before_assignment[0].total_seconds(),
                "running_since": _dt(ticket.resolution_before_assignment[1]),
            }
        ),
        "outcome_reasons": list(ticket.outcome_reasons),
        "first_response": _clock_state(ticket.first_response),
        "resolution": _clock_state(ticket.resolution),
        "terms": {
            "service_code": terms.service_code,
            "name": terms.name,
            "firm_kind": terms.firm_kind,
            "skills": sorted(terms.skills),
            "first_response_hours": terms.first_response_hours,
            "resolution_hours": terms.resolution_hours,
            "fee_policy": terms.fee_policy.value,
            "fee_fen": terms.fee_fen,
            "active": terms.active,
            "opened_by": terms.opened_by,
        },
    }
    return state


def ticket_from_state(state: dict[str, Any]) -> Ticket:
    terms = dict(state["terms"])
    terms["skills"] = frozenset(terms["skills"])
    terms["fee_policy"] = FeePolicy(terms["fee_policy"])
    return Ticket(
        **{name: state[name] for name in _PLAIN},
        **{name: _parse_dt(state[name]) for name in _TIMES},
        origin=Origin(state["origin"]),
        priority=Priority(state["priority"]),
        review=Review(state["review"]) if state["review"] else None,
        status=TicketStatus(state["status"]),
        declined_firms=list(state["declined_firms"]),
        previous_firms=list(state["previous_firms"]),
        resolution_before_assignment=_snapshot(state.get("resolution_before_assignment")),
        outcome_reasons=tuple(state["outcome_reasons"]),
        first_response=_clock(state["first_response"]),
        resolution=_clock(state["resolution"]),
        terms=ServiceTerms(**terms),
    )


def _snapshot(value: dict[str, Any] | None) -> tuple[timedelta, datetime | None] | None:
    # Absent in rows written before the firm figures measured from the assignment.
    if value is None:
        return None
    return timedelta(seconds=value["consumed_seconds"]), _parse_dt(value["running_since"])


def _ticket_row(ticket: Ticket, next_due: datetime | None) -> dict[str, Any]:
    return {
        "park_id": ticket.park_id,
        "enterprise_id": ticket.enterprise_id,
        "service_code": ticket.service_code,
        "status": ticket.status.value,
        "firm_id": ticket.firm_id,
        "claim_id": ticket.claim_id,
        "opened_at": ticket.opened_at,
        "next_sla_due_at": next_due,
        "state": ticket_state(ticket),
    }


# -- SQLAlchemy -------------------------------------------------------------------------


def _locked(statement, session: Session, *, skip_locked: bool = False):
    if session.get_bind().dialect.name == "postgresql":
        return statement.with_for_update(skip_locked=skip_locked)
    return statement


def _firm_record(row) -> FirmRecord:
    contact = row.contact or {}
    return FirmRecord(
        firm=Firm(
            firm_id=FirmId(row.firm_id),
            name=row.name,
            kind=FirmKind(row.kind),
            skills=frozenset(row.skills),
            capacity=row.capacity,
            contact=Contact(
                contact.get("person", ""), contact.get("phone", ""), contact.get("email")
            ),
        ),
        park_id=row.park_id,
        active=row.active,
        last_assigned=row.last_assigned,
        disabled_reason=row.disabled_reason,
    )


class FirmRepository(AbstractFirmRepository):
    def __init__(self, session: Session):
        self.session = session

    def get(self, firm_id: str, *, lock: bool = False) -> FirmRecord | None:
        statement = select(orm.firms).where(orm.firms.c.firm_id == firm_id)
        if lock:
            statement = _locked(statement, self.session)
        row = self.session.execute(statement).first()
        return _firm_record(row) if row else None

    def save(self, record: FirmRecord, now: datetime) -> None:
        firm = record.firm
        values = {
            "park_id": record.park_id,
            "name": firm.name,
            "kind": str(firm.kind),
            "skills": sorted(firm.skills),
            "capacity": firm.capacity,
            "contact": {
                "person": firm.contact.person,
                "phone": firm.contact.phone,
                "email": firm.contact.email,
            },
            "active": record.active,
            "last_assigned": record.last_assigned,
            "disabled_reason": record.disabled_reason,
            "updated_at": now,
        }
        changed = self.session.execute(
            update(orm.firms).where(orm.firms.c.firm_id == record.firm_id).values(**values)
        ).rowcount
        if not changed:
            self.session.execute(insert(orm.firms).values(firm_id=record.firm_id, **values))

    def all(self) -> list[FirmRecord]:
        rows = self.session.execute(select(orm.firms).order_by(orm.firms.c.firm_id))
        return [_firm_record(row) for row in rows]

    def lock_for_routing(self, park_id: str | None) -> list[FirmRecord]:
        statement = select(orm.firms).order_by(orm.firms.c.firm_id)
        if park_id is not None:
            statement = statement.where(
                (orm.firms.c.park_id == park_id) | orm.firms.c.park_id.is_(None)
            )
        rows = self.session.execute(_locked(statement, self.session))
        return [_firm_record(row) for row in rows]

    def record_sequences(self, last_assigned: dict[str, int]) -> None:
        for firm_id, sequence in last_assigned.items():
            self.session.execute(
                update(orm.firms)
                .where(orm.firms.c.firm_id == firm_id, orm.firms.c.last_assigned < sequence)
                .values(last_assigned=sequence)
            )


class EnterpriseRepository(AbstractEnterpriseRepository):
    def __init__(self, session: Session):
        self.session = session

    def get(self, enterprise_id: str) -> EnterpriseRecord | None:
        row = self.session.execute(
            select(orm.enterprises).where(orm.enterprises.c.enterprise_id == enterprise_id)
        ).first()
        if row is None:
            return None
        return EnterpriseRecord(
            card=EnterpriseCard(
                enterprise_id=row.enterprise_id,
                name=row.name,
                uscc=row.uscc,
                legal_representative=row.legal_representative,
                contact_phone=row.contact_phone,
            ),
            park_id=row.park_id,
            chief_service_officer=row.chief_service_officer,
            admitted_at=as_utc(row.admitted_at),
        )

    def save(self, record: EnterpriseRecord) -> None:
        card = record.card
        values = {
            "park_id": record.park_id,
            "name": card.name,
            "uscc": card.uscc,
            "legal_representative": card.legal_representative,
            "contact_phone": card.contact_phone,
            "chief_service_officer": record.chief_service_officer,
            "admitted_at": record.admitted_at,
        }
        table = orm.enterprises
        changed = self.session.execute(
            update(table).where(table.c.enterprise_id == card.enterprise_id).values(**values)
        ).rowcount
        if not changed:
            self.session.execute(insert(table).values(enterprise_id=card.enterprise_id, **values))

    def set_officer(self, enterprise_id: str, officer: str) -> bool:
        table = orm.enterprises
        return bool(
            self.session.execute(
                update(table)
                .where(table.c.enterprise_id == enterprise_id)
                .values(chief_service_officer=officer)
            ).rowcount
        )


class TicketRepository(AbstractTicketRepository):
    def __init__(self, session: Session):
        self.session = session

    def _one(self, condition, lock: bool) -> Ticket | None:
        statement = select(orm.tickets.c.state).where(condition)
        if lock:
            statement = _locked(statement, self.session)
        state = self.session.execute(statement).scalar_one_or_none()
        return ticket_from_state(state) if state is not None else None

    def _many(self, statement) -> list[Ticket]:
        return [ticket_from_state(state) for state in self.session.execute(statement).scalars()]

    def get(self, ticket_id: str, *, lock: bool = False) -> Ticket | None:
        return self._one(orm.tickets.c.ticket_id == ticket_id, lock)

    def by_origin_key(self, key: str, *, lock: bool = False) -> Ticket | None:
        return self._one(orm.tickets.c.origin_key == key, lock)

    def add(self, ticket: Ticket, next_due: datetime | None) -> None:
        self.session.execute(
            insert(orm.tickets).values(
                ticket_id=ticket.ticket_id,
                origin_key=ticket.origin_key,
                **_ticket_row(ticket, next_due),
            )
        )

    def save(self, ticket: Ticket, next_due: datetime | None) -> None:
        self.session.execute(
            update(orm.tickets)
            .where(orm.tickets.c.ticket_id == ticket.ticket_id)
            .values(**_ticket_row(ticket, next_due))
        )

    def waiting(self, park_id: str | None) -> list[Ticket]:
        statement = select(orm.tickets.c.state).where(
            orm.tickets.c.status == TicketStatus.OPEN.value
        )
        if park_id is not None:
            statement = statement.where(orm.tickets.c.park_id == park_id)
        statement = statement.order_by(orm.tickets.c.opened_at, orm.tickets.c.ticket_id)
        return self._many(_locked(statement, self.session))

    def waiting_parks(self, park_id: str | None) -> list[str | None]:
        statement = (
            select(orm.tickets.c.park_id)
            .where(orm.tickets.c.status == TicketStatus.OPEN.value)
            .distinct()
        )
        if park_id is not None:
            statement = statement.where(orm.tickets.c.park_id == park_id)
        return sorted(self.session.execute(statement).scalars(), key=lambda p: p or "")

    def held_by(self, firm_id: str) -> list[Ticket]:
        statement = (
            select(orm.tickets.c.state)
            .where(
                orm.tickets.c.firm_id == firm_id,
                orm.tickets.c.status.in_([s.value for s in HELD_STATES]),
            )
            .order_by(orm.tickets.c.opened_at, orm.tickets.c.ticket_id)
        )
        return self._many(_locked(statement, self.session))

    def load_by_firm(self, firm_ids: Iterable[str]) -> dict[str, int]:
        ids = list(firm_ids)
        if not ids:
            return {}
        rows = self.session.execute(
            select(orm.tickets.c.firm_id, func.count())
            .where(
                orm.tickets.c.firm_id.in_(ids),
                orm.tickets.c.status.in_([s.value for s in HELD_STATES]),
            )
            .group_by(orm.tickets.c.firm_id)
        )
        return {firm_id: count for firm_id, count in rows}

    def for_claim(self, claim_id: str, *, lock: bool = True) -> list[Ticket]:
        statement = (
            select(orm.tickets.c.state)
            .where(orm.tickets.c.claim_id == claim_id)
            .order_by(orm.tickets.c.ticket_id)
        )
        return self._many(_locked(statement, self.session) if lock else statement)

    def due(self, now: datetime, limit: int) -> list[Ticket]:
        statement = (
            select(orm.tickets.c.state)
            .where(orm.tickets.c.next_sla_due_at <= now)
            .order_by(orm.tickets.c.next_sla_due_at, orm.tickets.c.ticket_id)
            .limit(limit)
        )
        return self._many(_locked(statement, self.session, skip_locked=True))

    def opened_between(self, park_id: str, since: datetime, until: datetime) -> list[Ticket]:
        statement = select(orm.tickets.c.state).where(
            orm.tickets.c.park_id == park_id,
            orm.tickets.c.opened_at >= since,
            orm.tickets.c.opened_at < until,
        )
        return self._many(statement)

    def query(self, query: TicketQuery) -> list[Ticket]:
        table = orm.tickets
        statement = select(table.c.state)
        for name in ("park_id", "status", "firm_id", "enterprise_id", "service_code"):
            value = getattr(query, name)
            if value is not None:
                statement = statement.where(table.c[name] == value)
        statement = statement.order_by(table.c.opened_at.desc(), table.c.ticket_id).limit(
            query.limit
        )
        return self._many(statement)

    def claim_withdrawn(self, claim_id: str) -> bool:
        table = orm.withdrawn_claims
        found = self.session.execute(select(table.c.claim_id).where(table.c.claim_id == claim_id))
        return found.first() is not None

    def record_claim_withdrawn(self, claim_id: str, reason: str, now: datetime) -> None:
        if not self.claim_withdrawn(claim_id):
            self.session.execute(
                insert(orm.withdrawn_claims).values(
                    claim_id=claim_id, reason=reason, withdrawn_at=now
                )
            )
