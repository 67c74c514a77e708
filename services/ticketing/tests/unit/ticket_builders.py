"""Builders for the ticketing domain's unit tests: terms, firms, tickets, a calendar."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

from services.ticketing.domain.routing import FirmProfile, RoutingBoard
from services.ticketing.domain.tickets import FeePolicy, ServiceRequest, ServiceTerms, Ticket
from shared.business_calendar import BusinessCalendar

CALENDAR = BusinessCalendar()
#: Monday 2026-11-23 09:00 Asia/Shanghai (01:00 UTC), a plain working day.
MONDAY_9 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)

_ids = itertools.count(1)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def terms(
    code: str = "LEGAL-03",
    *,
    kind: str = "legal",
    skills: frozenset[str] = frozenset({"labour_law"}),
    first_response_hours: float = 4,
    resolution_hours: float = 16,
    fee_policy: FeePolicy = FeePolicy.FREE,
    fee_fen: int | None = None,
    active: bool = True,
    opened_by: str | None = None,
) -> ServiceTerms:
    return ServiceTerms(
        service_code=code,
        name="劳动合同审查",
        firm_kind=kind,
        skills=skills,
        first_response_hours=first_response_hours,
        resolution_hours=resolution_hours,
        fee_policy=fee_policy,
        fee_fen=fee_fen,
        active=active,
        opened_by=opened_by,
    )


def request(**overrides: object) -> ServiceRequest:
    fields: dict[str, object] = {
        "request_id": f"req-{next(_ids)}",
        "enterprise_id": "ent-1",
        "service_code": "LEGAL-03",
        "description": "请审查劳动合同",
        "priority": "normal",
    }
    fields.update(overrides)
    return ServiceRequest(**fields)  # type: ignore[arg-type]


def open_ticket(
    service: ServiceTerms | None = None,
    *,
    now: datetime = MONDAY_9,
    priority: str = "normal",
    ticket_id: str | None = None,
) -> Ticket:
    return Ticket.open_for_request(
        request(priority=priority),
        service or terms(),
        ticket_id=ticket_id or f"t-{next(_ids)}",
        now=now,
        calendar=CALENDAR,
        park_id="aux-shangjie",
    )


def firm(
    firm_id: str,
    *,
    kind: str = "legal",
    skills: frozenset[str] = frozenset({"labour_law"}),
    capacity: int = 5,
    active: bool = True,
) -> FirmProfile:
    return FirmProfile(firm_id=firm_id, kind=kind, skills=skills, capacity=capacity, active=active)


def board(*firms: FirmProfile) -> RoutingBoard:
    return RoutingBoard.build(firms)


def event_types(ticket: Ticket) -> list[str]:
    return [event.event_type for event in ticket.events]
