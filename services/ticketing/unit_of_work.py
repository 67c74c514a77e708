"""Ticketing's unit of work: the shared one, with this service's repositories and the
park rules the use cases apply (catalogue, each park's ticketing policy and calendar).

:class:`AbstractTicketingUnitOfWork` is what the use cases in ``handlers.py`` rely on;
unit tests give them an in-memory subclass of it instead of a database.
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from services.ticketing.domain.catalogue import Catalogue, CatalogueEntry, load_catalogue
from services.ticketing.domain.park_policy import (
    DEFAULT_BUSINESS_HOURS,
    TicketingPolicy,
    load_ticketing_policies,
)
from services.ticketing.domain.sla import SlaPolicy
from services.ticketing.domain.tickets import FeePolicy, ServiceTerms
from services.ticketing.repository import (
    AbstractEnterpriseRepository,
    AbstractFirmRepository,
    AbstractTicketRepository,
    EnterpriseRepository,
    FirmRepository,
    TicketRepository,
)
from shared.business_calendar import BusinessCalendar, load_year_directory
from shared.messaging.unit_of_work import Cause, UnitOfWork

# How long a request of an enterprise not (yet) in the projection is retried, from its
# occurred_at to the clock's now, before it is rejected (enterprise_not_admitted). Shorter
# than the default retry ladder (1+10+60+300+1800 s ≈ 36 min), so the last retries
# reject rather than dead-letter. Setting: UNKNOWN_ENTERPRISE_GRACE (seconds).
UNKNOWN_ENTERPRISE_GRACE = timedelta(seconds=1800)

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CATALOGUE = ROOT / "deploy" / "catalogue.yaml"
DEFAULT_PARKS_DIR = ROOT / "deploy" / "parks"
DEFAULT_CALENDAR_DIR = ROOT / "deploy" / "calendar"


def service_terms(entry: CatalogueEntry) -> ServiceTerms:
    """The ticket's snapshot of a catalogue entry (the domain's own type)."""
    return ServiceTerms(
        service_code=entry.code,
        name=entry.name_zh,
        firm_kind=str(entry.firm_kind),
        skills=frozenset(entry.skills),
        first_response_hours=entry.sla.first_response_hours,
        resolution_hours=entry.sla.resolution_hours,
        fee_policy=FeePolicy(str(entry.fee.policy)),
        fee_fen=entry.fee.fee_fen,
        active=entry.active,
        opened_by=str(entry.opened_by) if entry.opened_by is not None else None,
    )


@dataclass
class TicketingRules:
    """What the use cases apply: the catalogue, each park's ticketing policy, and the
    business calendar of each park's business hours (a park without a policy gets the
    defaults: 09:00–12:00, 13:00–18:00, auto-close after 3 business days, warning at 80 %).
    """

    catalogue: Catalogue
    policies: Mapping[str, TicketingPolicy] = field(default_factory=dict)
    calendar_years: Mapping[int, Any] = field(default_factory=dict)
    _calendars: dict[tuple, BusinessCalendar] = field(default_factory=dict, repr=False)

    @classmethod
    def load(
        cls,
        catalogue_file: str | Path = DEFAULT_CATALOGUE,
        parks_dir: str | Path | None = DEFAULT_PARKS_DIR,
        calendar_dir: str | Path | None = DEFAULT_CALENDAR_DIR,
    ) -> TicketingRules:
        policies = load_ticketing_policies(parks_dir) if parks_dir else {}
        years = (
            load_year_directory(calendar_dir)
            if calendar_dir and Path(calendar_dir).is_dir()
            else {}
        )
        return cls(load_catalogue(catalogue_file), policies, years)

    def terms(self, code: str) -> ServiceTerms | None:
        entry = self.catalogue.get(code)
        return service_terms(entry) if entry is not None else None

    def policy(self, park_id: str | None) -> TicketingPolicy | None:
        return self.policies.get(park_id) if park_id is not None else None

    def sla_policy(self, park_id: str | None) -> SlaPolicy:
        policy = self.policy(park_id)
        if policy is None:
            return SlaPolicy(close_after_business_days=3)
        return SlaPolicy(
            warning_ratio=policy.sla_warning_ratio,
            close_after_business_days=policy.close_after_business_days,
        )

    def calendar(self, park_id: str | None) -> BusinessCalendar:
        policy = self.policy(park_id)
        hours = policy.business_hours if policy is not None else DEFAULT_BUSINESS_HOURS
        key = tuple(hours)
        if key not in self._calendars:
            self._calendars[key] = BusinessCalendar(
                working_hours=hours, extra_years=dict(self.calendar_years)
            )
        return self._calendars[key]


@functools.cache
def default_rules() -> TicketingRules:
    """The rules from the repository's ``deploy/`` files (for callers without config)."""
    return TicketingRules.load()


class AbstractTicketingUnitOfWork(ABC):
    """One transaction: repositories, the outbox (``emit`` / ``send``), the rules, a
    clock and an id factory. Leaving ``with uow:`` without ``commit()`` undoes it all."""

    firms: AbstractFirmRepository
    enterprises: AbstractEnterpriseRepository
    tickets: AbstractTicketRepository
    rules: TicketingRules
    clock: Callable[[], datetime]
    new_id: Callable[[], str]
    cause: Cause

    @abstractmethod
    def __enter__(self) -> AbstractTicketingUnitOfWork: ...

    @abstractmethod
    def __exit__(self, *exc_info) -> None: ...

    @abstractmethod
    def commit(self) -> None: ...

    @abstractmethod
    def emit(
        self,
        type_: str,
        payload: Mapping[str, Any],
        *,
        park_id: str | None = None,
        version: int = 1,
    ) -> dict[str, Any]: ...

    @abstractmethod
    def send(
        self,
        exchange: str,
        routing_key: str,
        type_: str,
        payload: Mapping[str, Any],
        *,
        park_id: str | None = None,
        version: int = 1,
    ) -> dict[str, Any]: ...


class TicketingUnitOfWork(UnitOfWork, AbstractTicketingUnitOfWork):
    """``uow.firms``, ``uow.enterprises``, ``uow.tickets`` over the transaction's session;
    ``uow.rules`` given (the service's provider) or the ``deploy/`` defaults;
    ``uow.unknown_enterprise_grace``, the ``UNKNOWN_ENTERPRISE_GRACE`` setting."""

    def __init__(self, *args, rules: TicketingRules | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.rules = rules if rules is not None else default_rules()
        self.unknown_enterprise_grace = UNKNOWN_ENTERPRISE_GRACE

    def opened(self, session: Session) -> None:
        self.firms = FirmRepository(session)
        self.enterprises = EnterpriseRepository(session)
        self.tickets = TicketRepository(session)
