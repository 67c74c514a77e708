"""The ticketing service's nameko entrypoints: parse, call one use case, return."""

from datetime import timedelta
from pathlib import Path

from nameko import config
from nameko.rpc import rpc
from nameko.timer import timer
from prometheus_client import Counter

from services.ticketing import handlers, schemas
from services.ticketing.exceptions import EXPECTED
from services.ticketing.orm import messaging
from services.ticketing.unit_of_work import (
    DEFAULT_CALENDAR_DIR,
    DEFAULT_CATALOGUE,
    DEFAULT_PARKS_DIR,
    TicketingRules,
    TicketingUnitOfWork,
)
from shared.messaging.consumer import handle_event
from shared.messaging.dependencies import LogContext, MetricsEndpoint, UnitOfWorkProvider
from shared.tooling.health import health_report

SLA_SCAN_SECONDS = 30
SLA_FAILURES = Counter(
    "park_ticketing_sla_failures_total",
    "Tickets the SLA timer failed on (logged; tried again on the next pass).",
)


def unknown_enterprise_grace(value) -> timedelta:
    """The ``UNKNOWN_ENTERPRISE_GRACE`` setting (seconds, default 1800) as a duration;
    a value that is not a number ≥ 0 stops the service at start-up, naming the setting."""
    if value is None or value == "":
        return handlers.UNKNOWN_ENTERPRISE_GRACE
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = -1.0
    if isinstance(value, bool) or not 0 <= seconds <= 10**7:
        raise ValueError(
            f"UNKNOWN_ENTERPRISE_GRACE must be seconds (a number from 0 to 10^7), not {value!r}"
        )
    return timedelta(seconds=seconds)


class TicketingUnitOfWorkProvider(UnitOfWorkProvider):
    """The shared provider, giving each unit of work the rules read once at start-up:
    ``CATALOGUE_FILE`` (default ``deploy/catalogue.yaml``), the ``ticketing:`` sections
    of the park files in ``PARKS_DIR``, the calendar years in ``CALENDAR_DATA_DIR``, and
    ``UNKNOWN_ENTERPRISE_GRACE``."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("uow_class", TicketingUnitOfWork)
        super().__init__(*args, **kwargs)

    def setup(self) -> None:
        super().setup()
        calendar_dir = config.get("CALENDAR_DATA_DIR") or DEFAULT_CALENDAR_DIR
        self.rules = TicketingRules.load(
            config.get("CATALOGUE_FILE") or DEFAULT_CATALOGUE,
            config.get("PARKS_DIR") or DEFAULT_PARKS_DIR,
            calendar_dir if Path(calendar_dir).is_dir() else None,
        )

        self.unknown_enterprise_grace = unknown_enterprise_grace(
            config.get("UNKNOWN_ENTERPRISE_GRACE")
        )

    def get_dependency(self, worker_ctx) -> TicketingUnitOfWork:
        unit = super().get_dependency(worker_ctx)
        unit.rules = self.rules
        unit.unknown_enterprise_grace = self.unknown_enterprise_grace
        return unit


class TicketingService:
    name = "ticketing"

    uow = TicketingUnitOfWorkProvider(messaging)
    logs = LogContext()
    metrics = MetricsEndpoint()

    # -- the projection of onboarding.events -------------------------------------------

    @handle_event("onboarding", "enterprise_admitted")
    def on_enterprise_admitted(self, event):
        handlers.admit_enterprise(event.payload, event.park_id, self.uow)

    @handle_event("onboarding", "chief_service_officer_reassigned")
    def on_officer_reassigned(self, event):
        handlers.reassign_officer(event.payload, self.uow)

    # -- the enterprise (portal) -----------------------------------------------------------

    @handle_event("portal", "service_requested")
    def on_service_requested(self, event):
        handlers.request_service(
            event.payload,
            event.park_id,
            self.uow,
            occurred_at=event.occurred_at,
            grace=self.uow.unknown_enterprise_grace,
        )

    @handle_event("portal", "ticket_replied")
    def on_ticket_replied(self, event):
        handlers.reply_to_ticket(event.payload, self.uow)

    @handle_event("portal", "ticket_rated")
    def on_ticket_rated(self, event):
        handlers.rate_ticket(event.payload, self.uow)

    # -- buyback reviews ------------------------------------------------------------------

    @handle_event("buyback", "claim_review_requested")
    def on_claim_review_requested(self, event):
        handlers.open_claim_reviews(event.payload, event.park_id, self.uow)

    @handle_event("buyback", "claim_withdrawn")
    def on_claim_withdrawn(self, event):
        handlers.cancel_claim_reviews(event.payload, event.park_id, self.uow)

    @handle_event("buyback", "claim_rejected")
    def on_claim_rejected(self, event):
        handlers.cancel_claim_reviews(event.payload, event.park_id, self.uow, why="claim_rejected")

    # -- firms' reports (event.sender: the broker-verified user_id) ------------------------

    @handle_event("firms", "work_accepted")
    def on_work_accepted(self, event):
        handlers.apply_firm_report(event.type, event.payload, event.sender, self.uow)

    @handle_event("firms", "work_declined")
    def on_work_declined(self, event):
        handlers.apply_firm_report(event.type, event.payload, event.sender, self.uow)

    @handle_event("firms", "work_progressed")
    def on_work_progressed(self, event):
        handlers.apply_firm_report(event.type, event.payload, event.sender, self.uow)

    @handle_event("firms", "work_completed")
    def on_work_completed(self, event):
        handlers.apply_firm_report(event.type, event.payload, event.sender, self.uow)

    # -- the SLA timer ----------------------------------------------------------------------

    @timer(interval=SLA_SCAN_SECONDS)
    def scan_sla(self):
        scan = handlers.scan_sla(self.uow)
        SLA_FAILURES.inc(len(scan.failed))
        return {"checked": scan.checked, "events": scan.events, "failed": scan.failed}

    # -- RPCs --------------------------------------------------------------------------------

    @rpc(expected_exceptions=EXPECTED)
    def ticket(self, ticket_id):
        args = schemas.load(schemas.TicketLookup, ticket_id=ticket_id)
        return handlers.get_ticket(args["ticket_id"], self.uow)

    @rpc(expected_exceptions=EXPECTED)
    def list_tickets(
        self,
        park_id=None,
        status=None,
        firm_id=None,
        enterprise_id=None,
        service_code=None,
        limit=200,
    ):
        args = schemas.load(
            schemas.TicketQuery,
            park_id=park_id,
            status=status,
            firm_id=firm_id,
            enterprise_id=enterprise_id,
            service_code=service_code,
            limit=limit,
        )
        return handlers.list_tickets(self.uow, **args)

    @rpc(expected_exceptions=EXPECTED)
    def firm_figures(self, park_id, since, until):
        args = schemas.load(schemas.FiguresQuery, park_id=park_id, since=since, until=until)
        return handlers.firm_figures(args["park_id"], args["since"], args["until"], self.uow)

    @rpc(expected_exceptions=EXPECTED)
    def service_figures(self, park_id, since, until):
        args = schemas.load(schemas.FiguresQuery, park_id=park_id, since=since, until=until)
        return handlers.service_figures(args["park_id"], args["since"], args["until"], self.uow)

    @rpc(expected_exceptions=EXPECTED)
    def list_firms(self):
        return handlers.list_firms(self.uow)

    @rpc
    def health(self) -> dict:
        return health_report(self.uow)
