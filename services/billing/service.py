"""The billing service's nameko entrypoints (its domain arrives with its own issue)."""

from nameko.rpc import rpc

from services.billing.orm import messaging
from shared.messaging.dependencies import LogContext, MetricsEndpoint, UnitOfWorkProvider
from shared.tooling.health import health_report


class BillingService:
    name = "billing"

    uow = UnitOfWorkProvider(messaging)
    logs = LogContext()
    metrics = MetricsEndpoint()

    @rpc
    def health(self) -> dict:
        return health_report(self.uow)
