"""The billing service in a container, on a fresh vhost and a fresh database, with a
clock the test moves and an observer queue collecting every ``billing.events`` message;
publishers for what other systems send billing (onboarding, meters, ticketing, the bank,
buyback), each as its own broker user."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nameko
import pytest
from nameko.testing.services import entrypoint_hook

from services.billing.orm import messaging
from services.billing.service import BillingService, BillingUnitOfWorkProvider
from services.billing.unit_of_work import BillingRules, BillingUnitOfWork
from shared.contract import build
from shared.db import Database
from shared.messaging.amqp_client import BrokerAddress, ConfirmingPublisher
from shared.messaging.declare import declare_topology
from shared.messaging.publisher import EventPublisher, message_for
from shared.messaging.topology import PARK_SUBSCRIPTIONS, build_topology
from shared.tooling.migrate import upgrade
from tests.support.broker import as_user, get_messages, wait_for

ROOT = Path(__file__).resolve().parents[4]
PARK = "aux-shangjie"
TOPOLOGY = build_topology(PARK_SUBSCRIPTIONS, retry_delays=(1, 2))
OBSERVER = "observer.billing"
USCC = "91410100000000019L"


class FakeClock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def park_day(self, year: int, month: int, day: int) -> None:
        """10:00 in the park (02:00 UTC) of that day."""
        self.now = datetime(year, month, day, 2, 0, tzinfo=UTC)

    def advance(self, **delta) -> None:
        self.now += timedelta(**delta)


class Billing:
    """Drives the service from outside: publishes what other systems publish, reads its
    events, its dead letters and (for assertions) its database."""

    def __init__(self, amqp_uri, database_url, container_factory, clock):
        self.amqp_uri = amqp_uri
        self.database_url = database_url
        self.container_factory = container_factory
        self.clock = clock
        self.publishers = {
            source: EventPublisher(as_user(amqp_uri, source), source)
            for source in ("onboarding", "meters", "ticketing", "bank", "buyback")
        }
        self.database = Database(database_url)
        self.seen: list[dict] = []
        self.containers = []

    def start(self):
        clock = self.clock

        class BillingUnderTest(BillingService):
            uow = BillingUnitOfWorkProvider(messaging, clock=lambda: clock())

        container = self.container_factory(BillingUnderTest)
        container.start()
        self.containers.append(container)
        return container

    def uow(self) -> BillingUnitOfWork:
        return BillingUnitOfWork(
            self.database,
            messaging,
            source="billing",
            clock=lambda: self.clock(),
            rules=BillingRules.load(ROOT / "deploy" / "parks"),
        )

    def rpc(self, method: str, *args, container=None, **kwargs):
        with entrypoint_hook(container or self.containers[0], method) as call:
            return call(*args, **kwargs)

    # -- other systems ---------------------------------------------------------------------

    def publish(self, source: str, type_: str, payload: dict) -> dict:
        return self.publishers[source].publish(type_, payload, park_id=PARK)

    def envelope(self, source: str, type_: str, payload: dict) -> dict:
        return build(source, type_, payload, occurred_at=self.clock(), park_id=PARK)

    def send(self, envelope: dict) -> None:
        """Publish a built envelope as its source's broker user (to replay one)."""
        source = envelope["source"]
        publisher = ConfirmingPublisher(BrokerAddress.from_uri(as_user(self.amqp_uri, source)))
        try:
            publisher.publish([message_for(envelope, user_id=source)])
        finally:
            publisher.close()

    def admit(self, enterprise_id: str, uscc: str = USCC) -> dict:
        return self.publish(
            "onboarding",
            "enterprise_admitted",
            {
                "application_id": str(uuid.uuid4()),
                "enterprise_id": enterprise_id,
                "enterprise_name": "郑州恒达精密机械有限公司",
                "uscc": uscc,
                "industry_code": "C3464",
                "tenure": "lease",
                "supply_chain_partner": False,
                "environmental_review_required": False,
                "chief_service_officer": "cso-02",
            },
        )

    def allocate(self, enterprise_id: str, units: list[dict], tenure: str, lease_start=None):
        """``units_allocated`` occurring now on the test's clock (a purchase is held from
        the park date it occurred)."""
        envelope = self.envelope(
            "onboarding",
            "units_allocated",
            {
                "application_id": str(uuid.uuid4()),
                "enterprise_id": enterprise_id,
                "contract_id": f"C-{enterprise_id}",
                "tenure": tenure,
                "units": units,
                "lease_start": lease_start,
                "lease_end": None,
            },
        )
        self.send(envelope)
        return envelope

    def pay(self, amount_fen: int, reference: str = "", txn: str | None = None, uscc=USCC):
        return self.publish(
            "bank",
            "payment_received",
            {
                "bank_txn_id": txn or f"BANK-{uuid.uuid4().hex[:10]}",
                "payer_uscc": uscc,
                "amount_fen": amount_fen,
                "received_at": self.clock(),
                "reference": reference,
            },
        )

    def account_known(self, enterprise_id: str) -> bool:
        with self.uow() as uow:
            return uow.billing.account(enterprise_id) is not None

    # -- what the service published ---------------------------------------------------------

    def events(self) -> list[dict]:
        """Every billing event so far, once per ``event_id`` (delivery is at least once)."""
        ids = {e["event_id"] for e in self.seen}
        for message in get_messages(self.amqp_uri, OBSERVER):
            envelope = json.loads(message.body)
            if envelope["event_id"] not in ids:
                ids.add(envelope["event_id"])
                self.seen.append(envelope)
        return self.seen

    def events_where(self, type_: str, **fields) -> list[dict]:
        return [
            e["payload"]
            for e in self.events()
            if e["type"] == type_ and all(e["payload"].get(k) == v for k, v in fields.items())
        ]

    def wait_for_event(self, type_: str, count: int = 1, **fields) -> list[dict]:
        return wait_for(
            lambda: (found := self.events_where(type_, **fields)) and len(found) >= count and found,
            message=f"{count} × {type_} with {fields}",
            timeout=20,
        )

    def dead_letters(self) -> list:
        return get_messages(self.amqp_uri, "billing.dlq")

    def trial_balance_is_zero(self) -> None:
        balance = self.rpc("trial_balance")
        assert balance["total_fen"] == 0, balance

    def close(self):
        for publisher in self.publishers.values():
            publisher.close()
        self.database.dispose()


def lease_unit(unit_id: str, area: int = 300) -> dict:
    return {
        "unit_id": unit_id,
        "area_m2": area,
        "tenure": "lease",
        "price_fen": None,
        "monthly_rent_fen": area * 1_500,
        "monthly_property_fee_fen": area * 150,
        "contract_id": "C-1",
    }


def purchase_unit(unit_id: str, area: int = 300) -> dict:
    return {
        "unit_id": unit_id,
        "area_m2": area,
        "tenure": "purchase",
        "price_fen": area * 320_000,
        "monthly_rent_fen": None,
        "monthly_property_fee_fen": area * 150,
        "contract_id": "C-1",
    }


@pytest.fixture
def clock():
    return FakeClock(datetime(2026, 11, 2, 2, 0, tzinfo=UTC))


@pytest.fixture
def billing(rabbit_config, make_database_url, container_factory, clock, request):
    backend = getattr(request, "param", "postgresql")
    amqp_uri = nameko.config["AMQP_URI"]
    declare_topology(TOPOLOGY, amqp_uri)
    connection = BrokerAddress.from_uri(amqp_uri).connect()
    channel = connection.channel()
    channel.queue_declare(OBSERVER, durable=True, auto_delete=False)
    channel.queue_bind(OBSERVER, "billing.events", "#")
    connection.close()

    url = make_database_url("billing", backend)
    upgrade(url, ROOT / "services" / "billing" / "migrations")
    world = Billing(amqp_uri, url, container_factory, clock)
    settings = {
        "DATABASES": {"billing": url},
        "RETRY_DELAYS": [1, 2],
        "OUTBOX": {"poll_interval": 0.2},
        "LOG_LEVEL": "WARNING",
        "PARKS_DIR": str(ROOT / "deploy" / "parks"),
    }
    try:
        with nameko.config.patch(settings):
            yield world
            world.trial_balance_is_zero() if world.containers else None
    finally:
        world.close()
