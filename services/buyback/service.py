"""The buyback service's nameko entrypoints (its domain arrives with its own issue)."""

from nameko.rpc import rpc

from services.buyback.orm import messaging
from shared.messaging.dependencies import LogContext, MetricsEndpoint, UnitOfWorkProvider
from shared.tooling.health import health_report


class BuybackService:
    name = "buyback"

    uow = UnitOfWorkProvider(messaging)
    logs = LogContext()
    metrics = MetricsEndpoint()

    @rpc
    def health(self) -> dict:
        return health_report(self.uow)
