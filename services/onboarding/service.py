"""The onboarding service's nameko entrypoints: parse, call one use case, return."""

from nameko.rpc import rpc
from nameko.timer import timer
from prometheus_client import Counter

from services.onboarding import handlers, schemas
from services.onboarding.exceptions import EXPECTED
from services.onboarding.orm import messaging
from services.onboarding.unit_of_work import OnboardingUnitOfWork
from shared.messaging.consumer import handle_event
from shared.messaging.dependencies import (
    BusinessCalendarProvider,
    LogContext,
    MetricsEndpoint,
    UnitOfWorkProvider,
)
from shared.tooling.health import health_report

DEADLINE_SCAN_SECONDS = 60
DEADLINE_FAILURES = Counter(
    "park_onboarding_deadline_failures_total",
    "Applications the deadline timer failed on (logged; tried again on the next pass).",
)


class OnboardingService:
    name = "onboarding"

    uow = UnitOfWorkProvider(messaging, uow_class=OnboardingUnitOfWork)
    calendar = BusinessCalendarProvider()
    logs = LogContext()
    metrics = MetricsEndpoint()

    @handle_event("portal", "application_submitted")
    def on_application_submitted(self, event):
        handlers.receive_application(event.payload, event.park_id, self.uow, self.calendar)

    @handle_event("gov", "review_decided")
    def on_review_decided(self, event):
        handlers.decide_review(event.payload, self.uow)

    @handle_event("portal", "documents_supplied")
    def on_documents_supplied(self, event):
        handlers.supply_documents(event.payload, self.uow)

    @handle_event("portal", "application_withdrawn")
    def on_application_withdrawn(self, event):
        handlers.withdraw_by_applicant(event.payload, self.uow)

    @handle_event("buyback", "claim_settled")
    def on_claim_settled(self, event):
        handlers.settle_buyback(event.payload, self.uow, event.park_id)

    @timer(interval=DEADLINE_SCAN_SECONDS)
    def scan_deadlines(self):
        scan = handlers.process_deadlines(self.uow)
        DEADLINE_FAILURES.inc(len(scan.failed))

    @rpc(expected_exceptions=EXPECTED)
    def withdraw_application(self, application_id, reason):
        args = schemas.load(schemas.Withdrawal, application_id=application_id, reason=reason)
        return handlers.withdraw_application(args["application_id"], args["reason"], self.uow)

    @rpc(expected_exceptions=EXPECTED)
    def record_production_start(self, enterprise_id, started_on):
        args = schemas.load(
            schemas.ProductionStart, enterprise_id=enterprise_id, started_on=started_on
        )
        handlers.record_production_start(args["enterprise_id"], args["started_on"], self.uow)

    @rpc(expected_exceptions=EXPECTED)
    def end_lease(self, enterprise_id, unit_ids):
        args = schemas.load(schemas.LeaseEnd, enterprise_id=enterprise_id, unit_ids=unit_ids)
        return handlers.end_lease(args["enterprise_id"], args["unit_ids"], self.uow)

    @rpc(expected_exceptions=EXPECTED)
    def reassign_chief_service_officer(self, enterprise_id, officer_id):
        args = schemas.load(
            schemas.OfficerReassignment, enterprise_id=enterprise_id, officer_id=officer_id
        )
        handlers.reassign_chief_service_officer(args["enterprise_id"], args["officer_id"], self.uow)

    @rpc(expected_exceptions=EXPECTED)
    def log_service_visit(self, enterprise_id, officer_id, visited_on, note, visit_id=None):
        args = schemas.load(
            schemas.ServiceVisit,
            enterprise_id=enterprise_id,
            officer_id=officer_id,
            visited_on=visited_on,
            note=note,
            visit_id=visit_id,
        )
        return handlers.log_service_visit(**args, uow=self.uow)

    @rpc(expected_exceptions=EXPECTED)
    def query_units(self, park_id, status=None, building=None):
        args = schemas.load(schemas.UnitQuery, park_id=park_id, status=status, building=building)
        return handlers.query_units(**args, uow=self.uow)

    @rpc(expected_exceptions=EXPECTED)
    def list_applications(self, status=None, park_id=None, overdue_only=False, limit=200):
        args = schemas.load(
            schemas.ApplicationQuery,
            status=status,
            park_id=park_id,
            overdue_only=overdue_only,
            limit=limit,
        )
        return handlers.list_applications(**args, uow=self.uow)

    @rpc(expected_exceptions=EXPECTED)
    def officer_workload(self, park_id):
        args = schemas.load(schemas.OfficerWorkload, park_id=park_id)
        return handlers.officer_workload(args["park_id"], self.uow)

    @rpc(expected_exceptions=EXPECTED)
    def application_history(self, application_id):
        return handlers.application_history(application_id, self.uow)

    @rpc
    def health(self) -> dict:
        return health_report(self.uow)
