"""Onboarding's unit of work: the shared one, with this service's repositories."""

from sqlalchemy.orm import Session

from services.onboarding.repository import (
    ApplicationRepository,
    EnterpriseRepository,
    HistoryRepository,
    ParkRepository,
    UnitRepository,
)
from shared.messaging.unit_of_work import UnitOfWork


class OnboardingUnitOfWork(UnitOfWork):
    """``uow.parks``, ``uow.units``, ``uow.applications``, ``uow.enterprises``,
    ``uow.history`` over the transaction's session."""

    def opened(self, session: Session) -> None:
        self.parks = ParkRepository(session)
        self.units = UnitRepository(session)
        self.applications = ApplicationRepository(session)
        self.enterprises = EnterpriseRepository(session)
        self.history = HistoryRepository(session)
