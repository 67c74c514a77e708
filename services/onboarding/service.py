"""The onboarding service's nameko entrypoints (its domain arrives with its own issue)."""

from nameko.rpc import rpc

from services.onboarding.orm import messaging
from shared.dependencies import LogContext, UnitOfWorkProvider
from shared.health import health_report


class OnboardingService:
    name = "onboarding"

    uow = UnitOfWorkProvider(messaging)
    logs = LogContext()

    @rpc
    def health(self) -> dict:
        return health_report(self.uow)
