"""Onboarding's unit of work: the shared one, with this service's repositories.

:class:`AbstractOnboardingUnitOfWork` is what the use cases in ``handlers/`` rely on;
unit tests give them an in-memory subclass of it instead of a database.
"""

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from services.onboarding.repository import (
    AbstractApplicationRepository,
    AbstractEnterpriseRepository,
    AbstractHistoryRepository,
    AbstractParkRepository,
    AbstractUnitRepository,
    ApplicationRepository,
    EnterpriseRepository,
    HistoryRepository,
    ParkRepository,
    UnitRepository,
)
from shared.messaging.unit_of_work import Cause, UnitOfWork


class AbstractOnboardingUnitOfWork(ABC):
    """One transaction: repositories, the outbox (``emit``), a clock and an id factory.

    Leaving ``with uow:`` without ``commit()`` undoes everything done inside it.
    """

    parks: AbstractParkRepository
    units: AbstractUnitRepository
    applications: AbstractApplicationRepository
    enterprises: AbstractEnterpriseRepository
    history: AbstractHistoryRepository
    clock: Callable[[], datetime]
    new_id: Callable[[], str]
    cause: Cause

    @abstractmethod
    def __enter__(self) -> "AbstractOnboardingUnitOfWork": ...

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


class OnboardingUnitOfWork(UnitOfWork, AbstractOnboardingUnitOfWork):
    """``uow.parks``, ``uow.units``, ``uow.applications``, ``uow.enterprises``,
    ``uow.history`` over the transaction's session."""

    def opened(self, session: Session) -> None:
        self.parks = ParkRepository(session)
        self.units = UnitRepository(session)
        self.applications = ApplicationRepository(session)
        self.enterprises = EnterpriseRepository(session)
        self.history = HistoryRepository(session)
