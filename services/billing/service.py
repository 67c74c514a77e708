"""The billing service's nameko entrypoints: parse, call one use case, return."""

from nameko import config
from nameko.rpc import rpc
from nameko.timer import timer
from prometheus_client import Counter

from services.billing import handlers, schemas
from services.billing.exceptions import EXPECTED
from services.billing.orm import messaging
from services.billing.unit_of_work import DEFAULT_PARKS_DIR, BillingRules, BillingUnitOfWork
from shared.messaging.batch import handle_events
from shared.messaging.consumer import handle_event
from shared.messaging.dependencies import LogContext, MetricsEndpoint, UnitOfWorkProvider
from shared.tooling.health import health_report

CYCLE_SECONDS = 600
CYCLE_FAILURES = Counter(
    "park_billing_cycle_failures_total",
    "Accounts the billing cycle failed on (logged; tried again on the next pass).",
)


class BillingUnitOfWorkProvider(UnitOfWorkProvider):
    """The shared provider, giving each unit of work the terms of every park, read once
    at start-up from the ``billing:`` sections of the park files in ``PARKS_DIR``."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("uow_class", BillingUnitOfWork)
        super().__init__(*args, **kwargs)

    def setup(self) -> None:
        super().setup()
        self.rules = BillingRules.load(config.get("PARKS_DIR") or DEFAULT_PARKS_DIR)

    def get_dependency(self, worker_ctx) -> BillingUnitOfWork:
        unit = super().get_dependency(worker_ctx)
        unit.rules = self.rules
        return unit


class BillingService:
    name = "billing"

    uow = BillingUnitOfWorkProvider(messaging)
    logs = LogContext()
    metrics = MetricsEndpoint()

    # -- onboarding.events ------------------------------------------------------------------

    @handle_event("onboarding", "enterprise_admitted")
    def on_enterprise_admitted(self, event):
        handlers.admit_enterprise(event.payload, event.park_id, self.uow)

    @handle_event("onboarding", "units_allocated")
    def on_units_allocated(self, event):
        handlers.allocate_units(event.payload, event.occurred_at, self.uow)

    @handle_event("onboarding", "units_released")
    def on_units_released(self, event):
        handlers.release_units(event.payload, event.occurred_at, self.uow)

    # -- meters, tickets, the bank -----------------------------------------------------------

    # The high-volume input (every meter, every 15 minutes): up to 50 readings already
    # waiting go through one transaction (docs/messaging.md §9; one at a time on failure).
    @handle_events("meters", "reading_recorded", batch=50, concurrency=2)
    def on_reading_recorded(self, event):
        handlers.record_meter_reading(event.payload, self.uow)

    @handle_event("ticketing", "ticket_resolved")
    def on_ticket_resolved(self, event):
        handlers.charge_resolved_ticket(event.payload, self.uow)

    @handle_event("bank", "payment_received")
    def on_payment_received(self, event):
        handlers.receive_payment(event.payload, self.uow)

    # -- buyback ------------------------------------------------------------------------------

    @handle_event("buyback", "settlement_requested")
    def on_settlement_requested(self, event):
        handlers.compute_settlement(event.payload, self.uow)

    @handle_event("buyback", "claim_settled")
    def on_claim_settled(self, event):
        handlers.settle_claim(event.payload, self.uow)

    # -- the billing cycle ---------------------------------------------------------------------

    @timer(interval=CYCLE_SECONDS)
    def billing_cycle(self):
        result = handlers.run_billing_cycle(self.uow)
        CYCLE_FAILURES.inc(len(result.failed))
        return result.summary()

    # -- RPCs -------------------------------------------------------------------------------

    @rpc(expected_exceptions=EXPECTED)
    def run_billing_cycle(self, on=None):
        args = schemas.load(schemas.CycleRun, on=on)
        result = handlers.run_billing_cycle(self.uow, args["on"])
        CYCLE_FAILURES.inc(len(result.failed))
        return result.summary()

    @rpc(expected_exceptions=EXPECTED)
    def account_statement(self, enterprise_id, month):
        args = schemas.load(schemas.StatementQuery, enterprise_id=enterprise_id, month=month)
        return handlers.account_statement(args["enterprise_id"], args["month"], self.uow)

    @rpc(expected_exceptions=EXPECTED)
    def statement_html(self, enterprise_id, month):
        """The month's statement as a printable HTML page (PDF: the browser's print)."""
        from services.billing.statement.render import render_statement

        args = schemas.load(schemas.StatementQuery, enterprise_id=enterprise_id, month=month)
        return render_statement(
            handlers.statement_document(args["enterprise_id"], args["month"], self.uow)
        )

    @rpc(expected_exceptions=EXPECTED)
    def open_invoices(self, enterprise_id):
        args = schemas.load(schemas.EnterpriseLookup, enterprise_id=enterprise_id)
        return handlers.open_invoices(args["enterprise_id"], self.uow)

    @rpc(expected_exceptions=EXPECTED)
    def aging_report(self, park_id, as_of):
        args = schemas.load(schemas.AgingQuery, park_id=park_id, as_of=as_of)
        return handlers.aging_report(args["park_id"], args["as_of"], self.uow)

    @rpc(expected_exceptions=EXPECTED)
    def revenue(self, park_id, year):
        args = schemas.load(schemas.RevenueQuery, park_id=park_id, year=year)
        return handlers.revenue(args["park_id"], args["year"], self.uow)

    @rpc(expected_exceptions=EXPECTED)
    def match_payment(self, bank_txn_id, enterprise_id, operator, reason):
        args = schemas.load(
            schemas.MatchPayment,
            bank_txn_id=bank_txn_id,
            enterprise_id=enterprise_id,
            operator=operator,
            reason=reason,
        )
        return handlers.match_payment(uow=self.uow, **args)

    @rpc(expected_exceptions=EXPECTED)
    def waive_late_fee(self, invoice_id, operator, reason):
        args = schemas.load(
            schemas.WaiveLateFee, invoice_id=invoice_id, operator=operator, reason=reason
        )
        return handlers.waive_late_fee(uow=self.uow, **args)

    @rpc(expected_exceptions=EXPECTED)
    def issue_credit_note(self, invoice_id, amount_fen, reason, operator):
        args = schemas.load(
            schemas.CreditNote,
            invoice_id=invoice_id,
            amount_fen=amount_fen,
            reason=reason,
            operator=operator,
        )
        return handlers.issue_credit_note(uow=self.uow, **args)

    @rpc(expected_exceptions=EXPECTED)
    def rebaseline_meter(self, meter_id, reading, operator, reason, read_at=None):
        """A replaced meter bills from ``reading`` on (audited; unbilled use invoiced)."""
        args = schemas.load(
            schemas.RebaselineMeter,
            meter_id=meter_id,
            reading=reading,
            operator=operator,
            reason=reason,
            read_at=read_at,
        )
        return handlers.rebaseline_meter(uow=self.uow, **args)

    @rpc
    def trial_balance(self):
        return handlers.trial_balance(self.uow)

    @rpc
    def health(self) -> dict:
        return health_report(self.uow)
