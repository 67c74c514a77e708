"""Buyback's unit of work: the shared one, with this service's repositories and rules.

:class:`AbstractBuybackUnitOfWork` is what the use cases in ``handlers/`` rely on; unit
tests give them an in-memory subclass of it instead of a database.
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

from services.buyback.domain.claims import Deadlines
from services.buyback.domain.errors import UnknownPark
from services.buyback.domain.policy import BuybackPolicy, load_buyback_policies
from services.buyback.repository import (
    AbstractClaimRepository,
    AbstractHistoryRepository,
    AbstractHoldingRepository,
    ClaimRepository,
    HistoryRepository,
    HoldingRepository,
)
from shared.business_calendar import BusinessCalendar, load_year_directory
from shared.messaging.unit_of_work import Cause, UnitOfWork

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PARKS_DIR = ROOT / "deploy" / "parks"
DEFAULT_CALENDAR_DIR = ROOT / "deploy" / "calendar"
#: How long a claim (or withdrawal) naming what this service does not know yet is
#: retried before it is answered: its enterprise_admitted may still be in flight.
UNKNOWN_ENTERPRISE_GRACE = timedelta(seconds=1800)


@dataclass
class BuybackRules:
    """Each park's ``buyback:`` policy (a park file without the section has the defaults)
    and the business calendar (official years plus operator-loaded ones) the day
    deadlines count on. A park with no park file at all has no policy: it is refused
    (:class:`UnknownPark`), never given defaults."""

    policies: Mapping[str, BuybackPolicy] = field(default_factory=dict)
    calendar: BusinessCalendar = field(default_factory=BusinessCalendar)

    @classmethod
    def load(
        cls,
        parks_dir: str | Path | None = DEFAULT_PARKS_DIR,
        calendar_dir: str | Path | None = DEFAULT_CALENDAR_DIR,
    ) -> BuybackRules:
        policies = load_buyback_policies(parks_dir) if parks_dir else {}
        years = (
            load_year_directory(calendar_dir)
            if calendar_dir and Path(calendar_dir).is_dir()
            else {}
        )
        return cls(policies, BusinessCalendar(extra_years=years))

    def knows(self, park_id: str | None) -> bool:
        return park_id is not None and park_id in self.policies

    def policy(self, park_id: str | None) -> BuybackPolicy:
        if not self.knows(park_id):
            raise UnknownPark(
                "unknown_park",
                f"park {park_id!r} has no park file in PARKS_DIR: its buyback deadlines are "
                "not known (add the park file and replay)",
            )
        return self.policies[park_id]

    def deadlines(self, park_id: str | None) -> Deadlines:
        policy = self.policy(park_id)
        return Deadlines(
            review_deadline_days=policy.review_deadline_days,
            settlement_deadline_hours=policy.settlement_deadline_hours,
            release_deadline_days=policy.release_deadline_days,
            netting_deadline_hours=policy.netting_deadline_hours,
            add_business_days=self.calendar.add_business_days,
        )


@functools.cache
def default_rules() -> BuybackRules:
    """The rules from the repository's ``deploy/`` files (for callers without config)."""
    return BuybackRules.load()


class AbstractBuybackUnitOfWork(ABC):
    """One transaction: repositories, the outbox (``emit``), the rules, a clock and an
    id factory. Leaving ``with uow:`` without ``commit()`` undoes everything inside it."""

    holdings: AbstractHoldingRepository
    claims: AbstractClaimRepository
    history: AbstractHistoryRepository
    rules: BuybackRules
    clock: Callable[[], datetime]
    new_id: Callable[[], str]
    cause: Cause
    #: The broker user the service consumes as (None outside a running service).
    own_user: str | None = None

    @abstractmethod
    def __enter__(self) -> AbstractBuybackUnitOfWork: ...

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


class BuybackUnitOfWork(UnitOfWork, AbstractBuybackUnitOfWork):
    """``uow.holdings``, ``uow.claims``, ``uow.history`` over the transaction's session."""

    def __init__(self, *args, rules: BuybackRules | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.rules = rules if rules is not None else default_rules()

    def opened(self, session: Session) -> None:
        self.holdings = HoldingRepository(session)
        self.claims = ClaimRepository(session)
        self.history = HistoryRepository(session)
