"""The ticketing service in a container, on a fresh vhost and a fresh database, with a
clock the test moves, an observer queue that collects every ``ticketing.events`` message,
and resident firms provisioned on the vhost as the broker users ``firm-<id>`` (ids unique
to the run: broker users are global; deleted at teardown), each with its work queue
``firm.<id>.work`` declared from ``Topology.firm_work``.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import nameko
import pytest
from nameko.testing.services import entrypoint_hook

from services.ticketing import handlers
from services.ticketing.domain.catalogue import FirmKind
from services.ticketing.domain.firm_directory import Contact, Firm, FirmId
from services.ticketing.orm import messaging
from services.ticketing.service import TicketingService, TicketingUnitOfWorkProvider
from services.ticketing.unit_of_work import TicketingUnitOfWork
from shared.contract import build
from shared.db import Database
from shared.messaging.amqp_client import BrokerAddress, ConfirmingPublisher
from shared.messaging.declare import declare_topology
from shared.messaging.identities import amqp_uri_as, firm_permissions
from shared.messaging.management import ManagementClient
from shared.messaging.publisher import EventPublisher, message_for
from shared.messaging.topology import PARK_SUBSCRIPTIONS, build_topology
from shared.tooling.migrate import upgrade
from tests.support.broker import as_user, get_messages, wait_for
from tests.support.service_world import (
    FRIDAY_MORNING,
    FakeClock,
    declare_observer,
    service_settings,
)

ROOT = Path(__file__).resolve().parents[4]
PARK = "aux-shangjie"
TOPOLOGY = build_topology(PARK_SUBSCRIPTIONS, retry_delays=(1, 2))
OBSERVER = "observer.ticketing"


@dataclass
class FirmUnderTest:
    """A provisioned firm: its id, what it publishes as, and its work queue."""

    firm_id: str
    amqp_uri: str  # as firm-<id>
    publisher: EventPublisher

    @property
    def queue(self) -> str:
        return f"firm.{self.firm_id}.work"

    def report(self, type_: str, ticket_id: str, **payload) -> dict:
        return self.publisher.publish(
            type_, {"ticket_id": ticket_id, "note": "", **payload}, park_id=PARK
        )

    def report_envelope(self, type_: str, ticket_id: str, **payload) -> dict:
        """A report's envelope, built but not sent (to send it twice, or out of order)."""
        return build(
            "firms",
            type_,
            {"ticket_id": ticket_id, "note": "", **payload},
            occurred_at=datetime.now(UTC),
            park_id=PARK,
        )

    def send(self, envelope: dict) -> None:
        publisher = ConfirmingPublisher(BrokerAddress.from_uri(self.amqp_uri))
        try:
            publisher.publish([message_for(envelope, user_id=f"firm-{self.firm_id}")])
        finally:
            publisher.close()


class Ticketing:
    """Drives the service from outside: publishes what other systems publish, reads its
    events and the firms' queues."""

    def __init__(self, amqp_uri, database_url, container_factory, clock):
        self.amqp_uri = amqp_uri
        self.database_url = database_url
        self.container_factory = container_factory
        self.clock = clock
        self.portal = EventPublisher(as_user(amqp_uri, "portal"), "portal")
        self.onboarding = EventPublisher(as_user(amqp_uri, "onboarding"), "onboarding")
        self.buyback = EventPublisher(as_user(amqp_uri, "buyback"), "buyback")
        self.database = Database(database_url)
        self.management = ManagementClient.for_broker(None, BrokerAddress.from_uri(amqp_uri))
        self.vhost = BrokerAddress.from_uri(amqp_uri).vhost
        self.seen: list[dict] = []
        self.work: dict[str, list[dict]] = {}
        self.firms: list[FirmUnderTest] = []
        self.containers = []

    # -- the service ----------------------------------------------------------------------

    def start(self):
        clock = self.clock

        class TicketingUnderTest(TicketingService):
            uow = TicketingUnitOfWorkProvider(messaging, clock=lambda: clock())

        container = self.container_factory(TicketingUnderTest)
        container.start()
        self.containers.append(container)
        return container

    def uow(self) -> TicketingUnitOfWork:
        return TicketingUnitOfWork(
            self.database, messaging, source="ticketing", clock=lambda: self.clock()
        )

    def rpc(self, method: str, *args, container=None, **kwargs):
        with entrypoint_hook(container or self.containers[0], method) as call:
            return call(*args, **kwargs)

    # -- firms ------------------------------------------------------------------------------

    def add_firm(
        self,
        label: str = "law",
        kind: str = "legal",
        skills=("labour_law", "mediation"),
        capacity: int = 10,
        *,
        register: bool = True,
    ) -> FirmUnderTest:
        """Provision a firm on the broker (user, queue, binding, permissions) and, unless
        told otherwise, register it with the service (routing waiting tickets)."""
        firm_id = f"t3{label[:8]}-{uuid.uuid4().hex[:10]}"
        password = f"pw-{uuid.uuid4().hex}"
        user = f"firm-{firm_id}"
        connection = BrokerAddress.from_uri(self.amqp_uri).connect()
        try:
            channel = connection.channel()
            queue, binding = TOPOLOGY.firm_work(firm_id)
            channel.queue_declare(
                queue.name, durable=True, auto_delete=False, arguments=queue.arguments
            )
            channel.queue_bind(binding.queue, binding.exchange, binding.routing_key)
        finally:
            connection.close()
        self.management.put_user(user, password)
        permissions = firm_permissions(firm_id)
        self.management.set_permissions(
            self.vhost, user, permissions.configure, permissions.write, permissions.read
        )
        uri = amqp_uri_as(self.amqp_uri, user, password)
        firm = FirmUnderTest(firm_id, uri, EventPublisher(uri, "firms"))
        self.firms.append(firm)
        if register:
            self.register(firm, kind, skills, capacity)
        return firm

    def register(self, firm: FirmUnderTest, kind="legal", skills=("labour_law",), capacity=10):
        handlers.register_firm(
            self.uow(),
            Firm(
                firm_id=FirmId(firm.firm_id),
                name=f"{firm.firm_id} 事务所",
                kind=FirmKind(kind),
                skills=frozenset(skills),
                capacity=capacity,
                contact=Contact("周正", "0371-6812-0101"),
            ),
            self.clock(),
            park_id=PARK,
        )

    def work_for(self, firm: FirmUnderTest) -> list[dict]:
        """Every message that reached the firm's queue so far (read as the firm)."""
        found = self.work.setdefault(firm.firm_id, [])
        for message in get_messages(firm.amqp_uri, firm.queue):
            found.append(json.loads(message.body))
        return found

    def wait_for_work(self, firm: FirmUnderTest, type_: str, ticket_id: str) -> dict:
        return wait_for(
            lambda: next(
                (
                    m
                    for m in self.work_for(firm)
                    if m["type"] == type_ and m["payload"]["ticket_id"] == ticket_id
                ),
                None,
            ),
            message=f"{type_} of {ticket_id} on {firm.queue}",
        )

    # -- other systems ---------------------------------------------------------------------

    def admit(self, enterprise_id: str | None = None, *, env: bool = False, wait=True) -> str:
        enterprise_id = enterprise_id or f"ent-{uuid.uuid4().hex[:8]}"
        self.onboarding.publish(
            "enterprise_admitted",
            {
                "application_id": str(uuid.uuid4()),
                "enterprise_id": enterprise_id,
                "enterprise_name": "郑州恒达精密机械有限公司",
                "uscc": "91410100000000019L",
                "industry_code": "C2614" if env else "C3464",
                "tenure": "purchase",
                "supply_chain_partner": True,
                "environmental_review_required": env,
                "chief_service_officer": "cso-02",
                "legal_representative": "王建国",
                "contact_phone": "13803710000",
            },
            park_id=PARK,
        )
        if wait:
            wait_for(
                lambda: self.known(enterprise_id), message=f"{enterprise_id} in the projection"
            )
        return enterprise_id

    def known(self, enterprise_id: str) -> bool:
        with self.uow() as uow:
            return uow.enterprises.get(enterprise_id) is not None

    def request(self, enterprise_id: str, code: str = "LEGAL-03", **overrides) -> dict:
        payload = {
            "request_id": str(uuid.uuid4()),
            "enterprise_id": enterprise_id,
            "service_code": code,
            "description": "劳动争议需要调解",
            "priority": "normal",
            **overrides,
        }
        self.portal.publish("service_requested", payload, park_id=PARK)
        return payload

    # -- what the service published ---------------------------------------------------------

    def events(self) -> list[dict]:
        """Every ticketing event so far, once each: delivery is at least once (a relay
        batch retried after a returned message publishes its other rows again), so
        copies of an ``event_id`` already seen are dropped, as any consumer's inbox does."""
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

    def ticket_of_request(self, request_id: str) -> str:
        [opened] = self.wait_for_event("ticket_opened", request_id=request_id)
        return opened["payload"]["ticket_id"]

    def dead_letters(self) -> list:
        return get_messages(self.amqp_uri, "ticketing.dlq")

    def close(self):
        for publisher in (self.portal, self.onboarding, self.buyback):
            publisher.close()
        for firm in self.firms:
            firm.publisher.close()
            self.management._call_optional("DELETE", f"users/firm-{firm.firm_id}")
        self.database.dispose()


def park_error(message) -> str:
    headers = message.headers or {}
    value = headers.get("park-error", "")
    return value.decode() if isinstance(value, bytes) else str(value)


SECURITY = re.compile(r"not_assignee|missing_sender|may not publish")


@pytest.fixture
def clock():
    return FakeClock(FRIDAY_MORNING)


@pytest.fixture
def ticketing(rabbit_config, make_database_url, container_factory, clock, request):
    backend = getattr(request, "param", "postgresql")
    amqp_uri = nameko.config["AMQP_URI"]
    declare_topology(TOPOLOGY, amqp_uri)
    declare_observer(amqp_uri, OBSERVER, "ticketing.events")

    url = make_database_url("ticketing", backend)
    upgrade(url, ROOT / "services" / "ticketing" / "migrations")
    world = Ticketing(amqp_uri, url, container_factory, clock)
    settings = service_settings("ticketing", url, PARKS_DIR=str(ROOT / "deploy" / "parks"))
    try:
        with nameko.config.patch(settings):
            yield world
    finally:
        world.close()
