"""The buyback service's nameko entrypoints: parse, call one use case, return."""

from datetime import timedelta
from pathlib import Path

from nameko import config
from nameko.rpc import rpc
from nameko.timer import timer
from prometheus_client import Counter

from services.buyback import handlers, schemas
from services.buyback.exceptions import EXPECTED
from services.buyback.orm import messaging
from services.buyback.unit_of_work import (
    DEFAULT_CALENDAR_DIR,
    DEFAULT_PARKS_DIR,
    UNKNOWN_ENTERPRISE_GRACE,
    BuybackRules,
    BuybackUnitOfWork,
)
from shared.messaging.amqp_client import BrokerAddress
from shared.messaging.consumer import handle_event
from shared.messaging.dependencies import LogContext, MetricsEndpoint, UnitOfWorkProvider
from shared.settings import MessagingSettings
from shared.tooling.health import health_report

DEADLINE_SCAN_SECONDS = 30
DEADLINE_FAILURES = Counter(
    "park_buyback_deadline_failures_total",
    "Claims the deadline timer failed on (logged; tried again on the next pass).",
)
DEADLINE_ACTIONS = Counter(
    "park_buyback_deadline_actions_total",
    "Deadlines acted on: escalations, settlement requests sent again, claims made stuck.",
)


def unknown_enterprise_grace(value) -> timedelta:
    """The ``UNKNOWN_ENTERPRISE_GRACE`` setting (seconds, default 1800) as a duration;
    a value that is not a number in 0..10^7 stops the service at start-up, naming it."""
    if value is None or value == "":
        return UNKNOWN_ENTERPRISE_GRACE
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = -1.0
    if isinstance(value, bool) or not 0 <= seconds <= 10**7:
        raise ValueError(
            f"UNKNOWN_ENTERPRISE_GRACE must be seconds (a number from 0 to 10^7), not {value!r}"
        )
    return timedelta(seconds=seconds)


class BuybackUnitOfWorkProvider(UnitOfWorkProvider):
    """The shared provider, giving each unit of work the rules read once at start-up:
    the ``buyback:`` sections of the park files in ``PARKS_DIR``, the calendar years in
    ``CALENDAR_DATA_DIR``, ``UNKNOWN_ENTERPRISE_GRACE``, and the service's own broker
    user."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("uow_class", BuybackUnitOfWork)
        super().__init__(*args, **kwargs)

    def setup(self) -> None:
        super().setup()
        calendar_dir = config.get("CALENDAR_DATA_DIR") or DEFAULT_CALENDAR_DIR
        self.rules = BuybackRules.load(
            config.get("PARKS_DIR") or DEFAULT_PARKS_DIR,
            calendar_dir if Path(calendar_dir).is_dir() else None,
        )
        self.unknown_enterprise_grace = unknown_enterprise_grace(
            config.get("UNKNOWN_ENTERPRISE_GRACE")
        )
        # The broker user this service consumes as (its AMQP_URI's): a message's sender
        # is None only on a copy it published itself (trust.py).
        self.own_user = BrokerAddress.from_uri(MessagingSettings.from_config(config).amqp_uri).user

    def get_dependency(self, worker_ctx) -> BuybackUnitOfWork:
        unit = super().get_dependency(worker_ctx)
        unit.rules = self.rules
        unit.unknown_enterprise_grace = self.unknown_enterprise_grace
        unit.own_user = self.own_user
        return unit


class BuybackService:
    name = "buyback"

    uow = BuybackUnitOfWorkProvider(messaging)
    logs = LogContext()
    metrics = MetricsEndpoint()

    # -- the projection of onboarding.events ------------------------------------------------

    @handle_event("onboarding", "enterprise_admitted")
    def on_enterprise_admitted(self, event):
        handlers.admit_enterprise(event.payload, event.park_id, self.uow)

    @handle_event("onboarding", "units_allocated")
    def on_units_allocated(self, event):
        handlers.allocate_units(
            event.payload, event.park_id, self.uow, occurred_at=event.occurred_at
        )

    @handle_event("onboarding", "production_started")
    def on_production_started(self, event):
        handlers.start_production(event.payload, event.park_id, self.uow)

    @handle_event("onboarding", "units_released")
    def on_units_released(self, event):
        handlers.release_units(event.payload, self.uow, sender=self._sender(event))

    @handle_event("onboarding", "release_refused")
    def on_release_refused(self, event):
        handlers.refuse_release(event.payload, self.uow, sender=self._sender(event))

    # -- the enterprise (portal) -------------------------------------------------------------

    @handle_event("portal", "buyback_requested")
    def on_buyback_requested(self, event):
        handlers.request_claim(
            event.payload,
            event.park_id,
            self.uow,
            occurred_at=event.occurred_at,
            grace=self.uow.unknown_enterprise_grace,
            sender=self._sender(event),
        )

    @handle_event("portal", "buyback_withdrawn")
    def on_buyback_withdrawn(self, event):
        handlers.withdraw_by_enterprise(
            event.payload,
            event.park_id,
            self.uow,
            occurred_at=event.occurred_at,
            grace=self.uow.unknown_enterprise_grace,
            sender=self._sender(event),
        )

    # -- reviews and settlement -------------------------------------------------------------

    @handle_event("ticketing", "ticket_resolved")
    def on_ticket_resolved(self, event):
        handlers.resolve_review(
            event.payload, self.uow, sender=event.sender, own_user=self.uow.own_user
        )

    @handle_event("billing", "buyback_settlement_computed")
    def on_settlement_computed(self, event):
        handlers.record_settlement(
            event.payload, self.uow, sender=event.sender, own_user=self.uow.own_user
        )

    @handle_event("billing", "buyback_netted")
    def on_buyback_netted(self, event):
        handlers.record_netting(
            event.payload, self.uow, sender=event.sender, own_user=self.uow.own_user
        )

    def _sender(self, event) -> str | None:
        """Who published it, as the claim's history records it (``trust.publisher``)."""
        return handlers.publisher(event.sender, self.uow.own_user)

    # -- the deadline timer -----------------------------------------------------------------

    @timer(interval=DEADLINE_SCAN_SECONDS)
    def scan_deadlines(self):
        scan = handlers.scan_deadlines(self.uow)
        DEADLINE_FAILURES.inc(len(scan.failed))
        DEADLINE_ACTIONS.inc(scan.acted)
        return {"checked": scan.checked, "acted": scan.acted, "failed": scan.failed}

    # -- RPCs --------------------------------------------------------------------------------

    @rpc(expected_exceptions=EXPECTED)
    def list_claims(self, state=None, limit=500, before=None):
        args = schemas.load(schemas.ClaimQuery, state=state, limit=limit, before=before)
        return handlers.list_claims(
            args["state"], self.uow, limit=args["limit"], before=args["before"]
        )

    @rpc(expected_exceptions=EXPECTED)
    def claim_history(self, claim_id):
        args = schemas.load(schemas.ClaimLookup, claim_id=claim_id)
        return handlers.claim_history(args["claim_id"], self.uow)

    @rpc(expected_exceptions=EXPECTED)
    def withdraw_claim(self, claim_id, reason, operator):
        args = schemas.load(schemas.Withdrawal, claim_id=claim_id, reason=reason, operator=operator)
        return handlers.withdraw_claim(args["claim_id"], args["reason"], args["operator"], self.uow)

    @rpc(expected_exceptions=EXPECTED)
    def exposure_report(self, park_id=None, as_of=None):
        args = schemas.exposure_arguments(park_id, as_of)
        return handlers.exposure(args["park_id"], args["as_of"], self.uow)

    @rpc
    def health(self) -> dict:
        return health_report(self.uow)
