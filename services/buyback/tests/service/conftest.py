"""The buyback service in a container, on a fresh vhost and a fresh database, with a
clock the test moves and an observer queue that collects every ``buyback.events``
message. The test plays onboarding, the portal, ticketing and billing: it publishes
what they publish, as their own broker users."""

from __future__ import annotations

import json
import uuid
from datetime import date
from pathlib import Path

import nameko
import pytest
from nameko.testing.services import entrypoint_hook

from services.buyback.orm import messaging
from services.buyback.service import BuybackService, BuybackUnitOfWorkProvider
from services.buyback.unit_of_work import BuybackRules, BuybackUnitOfWork
from shared.db import Database
from shared.messaging.declare import declare_topology
from shared.messaging.identities import PARK_CLI
from shared.messaging.publisher import EventPublisher
from shared.messaging.topology import PARK_SUBSCRIPTIONS, build_topology
from shared.tooling.migrate import upgrade
from tests.support.broker import as_user, get_messages, queue_depth, wait_for
from tests.support.service_world import (
    FRIDAY_MORNING,
    FakeClock,
    declare_observer,
    service_settings,
)

ROOT = Path(__file__).resolve().parents[4]
PARK = "aux-shangjie"
TOPOLOGY = build_topology(PARK_SUBSCRIPTIONS, retry_delays=(1, 2))
OBSERVER = "observer.buyback"
PRICE = 96_000_000  # 300 m² at 3,200 CNY/m², in fen


class Buyback:
    """Drives the service from outside and reads what it published."""

    def __init__(self, amqp_uri, database_url, container_factory, clock):
        self.amqp_uri = amqp_uri
        self.database = Database(database_url)
        self.container_factory = container_factory
        self.clock = clock
        self.publishers = {
            source: EventPublisher(as_user(amqp_uri, source), source)
            for source in ("onboarding", "portal", "ticketing", "billing")
        }
        # The operator CLI's broker user, publishing on a service's exchange (a "manual
        # correction" the sender rule lets through): keyed by the source it forges.
        self.cli_publishers = {
            source: EventPublisher(as_user(amqp_uri, PARK_CLI), source)
            for source in ("ticketing", "billing")
        }
        self.seen: list[dict] = []
        self.containers = []

    # -- the service ----------------------------------------------------------------------

    def start(self):
        clock = self.clock

        class BuybackUnderTest(BuybackService):
            uow = BuybackUnitOfWorkProvider(messaging, clock=lambda: clock())

        container = self.container_factory(BuybackUnderTest)
        container.start()
        self.containers.append(container)
        return container

    def stop(self):
        """Stop the running service (as a deploy or a crash would, between two steps)."""
        container = self.containers.pop()
        container.stop()

    def rpc(self, method: str, *args, **kwargs):
        with entrypoint_hook(self.containers[-1], method) as call:
            return call(*args, **kwargs)

    def scan(self):
        return self.rpc("scan_deadlines")

    def uow(self) -> BuybackUnitOfWork:
        return BuybackUnitOfWork(
            self.database,
            messaging,
            source="buyback",
            clock=lambda: self.clock(),
            rules=BuybackRules.load(),
        )

    # -- other systems ---------------------------------------------------------------------

    def publish(self, source: str, type_: str, payload: dict) -> dict:
        return self.publishers[source].publish(type_, payload, park_id=PARK)

    def enterprise(
        self,
        *,
        started_on: date | None = date(2020, 3, 1),
        units=("B07-2F-03", "B07-2F-04"),
        tenure="purchase",
        wait=True,
        enterprise_id: str | None = None,
    ) -> str:
        """An admitted enterprise holding ``units`` (and production started), as
        onboarding announces it."""
        enterprise_id = enterprise_id or f"ent-{uuid.uuid4().hex[:8]}"
        application_id = str(uuid.uuid4())
        self.publish(
            "onboarding",
            "enterprise_admitted",
            {
                "application_id": application_id,
                "enterprise_id": enterprise_id,
                "enterprise_name": "郑州恒达精密机械有限公司",
                "uscc": "91410100000000019L",
                "industry_code": "C3464",
                "tenure": tenure,
                "supply_chain_partner": True,
                "environmental_review_required": False,
                "chief_service_officer": "cso-02",
            },
        )
        self.publish(
            "onboarding",
            "units_allocated",
            {
                "application_id": application_id,
                "enterprise_id": enterprise_id,
                "contract_id": f"ct-{enterprise_id}",
                "tenure": tenure,
                "units": [
                    {
                        "unit_id": unit_id,
                        "area_m2": 300,
                        "tenure": tenure,
                        "price_fen": PRICE if tenure == "purchase" else None,
                        "monthly_rent_fen": None if tenure == "purchase" else 450_000,
                        "monthly_property_fee_fen": 45_000,
                        "contract_id": f"ct-{enterprise_id}",
                    }
                    for unit_id in units
                ],
                "lease_start": None,
                "lease_end": None,
            },
        )
        if started_on is not None:
            self.publish(
                "onboarding",
                "production_started",
                {
                    "enterprise_id": enterprise_id,
                    "application_id": application_id,
                    "started_on": started_on.isoformat(),
                },
            )
        if wait:
            wait_for(
                lambda: self.projected(enterprise_id, len(units), started_on is not None),
                message=f"{enterprise_id} in the projection",
            )
        return enterprise_id

    def projected(self, enterprise_id: str, units: int, started: bool) -> bool:
        with self.uow() as uow:
            holding = uow.holdings.get(enterprise_id)
        return (
            holding is not None
            and holding.admitted
            and len(holding.units) == units
            and (holding.production_started_on is not None) == started
        )

    def request(self, enterprise_id: str, claim_id: str | None = None, **overrides) -> str:
        claim_id = claim_id or str(uuid.uuid4())
        self.publish(
            "portal",
            "buyback_requested",
            {
                "claim_id": claim_id,
                "enterprise_id": enterprise_id,
                "reason": "订单骤减，连续两季亏损",
                "evidence": ["2026Q3财报.pdf"],
                **overrides,
            },
        )
        return claim_id

    def resolve(self, claim_id, enterprise_id, review, outcome="approve", reasons=()):
        self.publish(
            "ticketing",
            "ticket_resolved",
            {
                "ticket_id": f"tk-{review}-{claim_id[:8]}",
                "enterprise_id": enterprise_id,
                "service_code": "LEGAL-09" if review == "legal" else "FIN-07",
                "origin": "buyback_review",
                "request_id": None,
                "claim_id": claim_id,
                "review": review,
                "firm_id": "law-01" if review == "legal" else "fin-01",
                "outcome": outcome,
                "reasons": list(reasons),
                "fee_fen": None,
            },
        )

    def compute(self, claim_id, enterprise_id, gross_fen, net_fen):
        offsets = (
            [
                {
                    "kind": "invoice",
                    "invoice_id": str(uuid.uuid4()),
                    "amount_fen": gross_fen - net_fen,
                }
            ]
            if gross_fen != net_fen
            else []
        )
        self.publish(
            "billing",
            "buyback_settlement_computed",
            {
                "claim_id": claim_id,
                "enterprise_id": enterprise_id,
                "gross_fen": gross_fen,
                "offsets": offsets,
                "net_fen": net_fen,
            },
        )

    def release(self, claim_id, enterprise_id, units=("B07-2F-03", "B07-2F-04")):
        self.publish(
            "onboarding",
            "units_released",
            {
                "units": list(units),
                "reason": "buyback_settled",
                "application_id": None,
                "enterprise_id": enterprise_id,
                "claim_id": claim_id,
            },
        )

    def netted(self, claim_id, enterprise_id, **figures):
        """Billing books the settlement buyback published in ``claim_settled`` (or other
        ``figures``): ``buyback_netted``."""
        [settled] = self.wait_for_event("claim_settled", claim_id=claim_id)
        net_fen = figures.pop("net_fen", settled["payload"]["net_fen"])
        self.publish(
            "billing",
            "buyback_netted",
            {
                "claim_id": claim_id,
                "enterprise_id": enterprise_id,
                "gross_fen": settled["payload"]["gross_fen"],
                "net_fen": net_fen,
                "payout_fen": max(net_fen, 0),
                "still_owed_fen": max(-net_fen, 0),
                "settled_on": settled["payload"]["settled_on"],
                **figures,
            },
        )

    def refuse_release(self, claim_id, enterprise_id, units=("B07-2F-03", "B07-2F-04")):
        """Onboarding will not return the units: ``release_refused``."""
        self.publish(
            "onboarding",
            "release_refused",
            {
                "claim_id": claim_id,
                "enterprise_id": enterprise_id,
                "units": list(units),
                "reasons": [
                    {
                        "code": "units_not_owned",
                        "message": f"claim {claim_id}: {units[-1]} (leased, not sold to it)",
                        "field": "units",
                    }
                ],
            },
        )

    def forge(self, source: str, type_: str, payload: dict) -> dict:
        """Publish on ``source``'s exchange as the operator CLI (``park-cli``)."""
        return self.cli_publishers[source].publish(type_, payload, park_id=PARK)

    # -- what the service published ---------------------------------------------------------

    def events(self) -> list[dict]:
        """Every buyback event so far, once each (delivery is at least once)."""
        ids = {e["event_id"] for e in self.seen}
        for message in get_messages(self.amqp_uri, OBSERVER):
            envelope = json.loads(message.body)
            if envelope["event_id"] not in ids:
                ids.add(envelope["event_id"])
                self.seen.append(envelope)
        return self.seen

    def events_where(self, type_: str, **fields) -> list[dict]:
        return [
            e
            for e in self.events()
            if e["type"] == type_ and all(e["payload"].get(k) == v for k, v in fields.items())
        ]

    def wait_for_event(self, type_: str, count: int = 1, **fields) -> list[dict]:
        return wait_for(
            lambda: (found := self.events_where(type_, **fields)) and len(found) >= count and found,
            message=f"{count} × {type_} with {fields}",
        )

    def state(self, claim_id: str) -> str | None:
        with self.uow() as uow:
            claim = uow.claims.get(claim_id)
        return str(claim.state) if claim else None

    def wait_for_state(self, claim_id: str, state: str) -> None:
        wait_for(lambda: self.state(claim_id) == state, message=f"claim {claim_id} {state}")

    def retrying(self) -> bool:
        """Whether a message waits in a retry queue (it failed transiently)."""
        return any(queue_depth(self.amqp_uri, f"buyback.retry.{delay}s") for delay in (1, 2))

    def dead_letters(self) -> list:
        return get_messages(self.amqp_uri, "buyback.dlq")

    def close(self):
        for publisher in (*self.publishers.values(), *self.cli_publishers.values()):
            publisher.close()
        self.database.dispose()


@pytest.fixture
def clock():
    return FakeClock(FRIDAY_MORNING)


@pytest.fixture
def buyback(rabbit_config, make_database_url, container_factory, clock, request):
    backend = getattr(request, "param", "postgresql")
    amqp_uri = nameko.config["AMQP_URI"]
    declare_topology(TOPOLOGY, amqp_uri)
    declare_observer(amqp_uri, OBSERVER, "buyback.events")
    url = make_database_url("buyback", backend)
    upgrade(url, ROOT / "services" / "buyback" / "migrations")
    world = Buyback(amqp_uri, url, container_factory, clock)
    settings = service_settings(
        "buyback", url, PARKS_DIR=str(ROOT / "deploy" / "parks"), UNKNOWN_ENTERPRISE_GRACE=1
    )
    try:
        with nameko.config.patch(settings):
            yield world
    finally:
        world.close()
