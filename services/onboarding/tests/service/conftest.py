"""The onboarding service in a container, on a fresh vhost and a fresh database, with a
clock the test moves and an observer queue that collects every onboarding event."""

import json
import uuid
from pathlib import Path

import nameko
import pytest
from nameko.testing.services import entrypoint_hook

from services.onboarding import handlers
from services.onboarding.domain.park_definition import load_park_definitions
from services.onboarding.domain.uscc import build_uscc
from services.onboarding.orm import messaging
from services.onboarding.service import OnboardingService
from services.onboarding.unit_of_work import OnboardingUnitOfWork
from shared.db import Database
from shared.messaging.declare import declare_topology
from shared.messaging.dependencies import UnitOfWorkProvider
from shared.messaging.publisher import EventPublisher
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
PARKS = ROOT / "deploy" / "parks"
DEMO_PARK = "aux-shangjie"


def valid_uscc(seed: int) -> str:
    return build_uscc("91410100", f"{seed:08d}")


def application(
    units=("B01-1F-01",),
    *,
    tenure="purchase",
    documents=None,
    industry_code="C3464",
    uscc=None,
    seed=1,
    application_id=None,
) -> dict:
    return {
        "application_id": application_id or str(uuid.uuid4()),
        "enterprise": {
            "name": f"郑州测试机械有限公司{seed}",
            "uscc": uscc or valid_uscc(seed),
            "legal_representative": "王建国",
            "contact_phone": "13803710000",
            "industry_code": industry_code,
            "employees": 40,
        },
        "tenure": tenure,
        "requested_units": list(units),
        "documents": ALL_DOCUMENTS if documents is None else documents,
        "supply_chain_partner": True,
    }


ALL_DOCUMENTS = [
    "入园申请表",
    "营业执照",
    "法定代表人身份证",
    "项目可行性研究报告",
    "环评承诺书",
    "安全生产承诺书",
]
DEPARTMENTS = [
    "market_regulation",
    "ecology_environment",
    "emergency_management",
    "natural_resources",
]


class Onboarding:
    """Drives the service from outside: publishes ingress events, reads its events."""

    def __init__(self, amqp_uri, database_url, container_factory, clock):
        self.amqp_uri = amqp_uri
        self.database_url = database_url
        self.container_factory = container_factory
        self.clock = clock
        # Each ingress system publishes as its own broker user (the declare step made
        # them on this vhost): onboarding refuses portal or gov events from anyone else.
        self.portal = EventPublisher(as_user(amqp_uri, "portal"), "portal")
        self.gov = EventPublisher(as_user(amqp_uri, "gov"), "gov")
        self.buyback = EventPublisher(amqp_uri, "buyback")
        self.seen: list[dict] = []
        self.database = Database(database_url)
        self.containers = []

    def start(self):
        clock = self.clock

        class OnboardingUnderTest(OnboardingService):
            uow = UnitOfWorkProvider(
                messaging, uow_class=OnboardingUnitOfWork, clock=lambda: clock()
            )

        container = self.container_factory(OnboardingUnderTest)
        container.start()
        self.containers.append(container)
        return container

    def uow(self) -> OnboardingUnitOfWork:
        return OnboardingUnitOfWork(
            self.database, messaging, source="onboarding", clock=lambda: self.clock()
        )

    def rpc(self, method: str, *args, **kwargs):
        with entrypoint_hook(self.containers[0], method) as call:
            return call(*args, **kwargs)

    def submit(self, payload: dict, park_id: str = DEMO_PARK) -> dict:
        self.portal.publish("application_submitted", payload, park_id=park_id)
        return payload

    def decide(
        self, application_id: str, department: str, decision: str = "approve", reason: str = ""
    ):
        self.gov.publish(
            "review_decided",
            {
                "application_id": application_id,
                "department": department,
                "decision": decision,
                "reason": reason,
            },
            park_id=DEMO_PARK,
        )

    def approve_all(self, application_id: str):
        for department in DEPARTMENTS:
            self.decide(application_id, department)

    def events(self) -> list[dict]:
        """Every onboarding event published so far, in order."""
        for message in get_messages(self.amqp_uri, "observer.onboarding"):
            self.seen.append(json.loads(message.body))
        return self.seen

    def events_about(self, application_id: str, type_: str | None = None) -> list[dict]:
        return [
            e
            for e in self.events()
            if e["payload"].get("application_id") == application_id
            and (type_ is None or e["type"] == type_)
        ]

    def wait_for_event(self, application_id: str, type_: str, count: int = 1) -> list[dict]:
        return wait_for(
            lambda: (
                (found := self.events_about(application_id, type_))
                and len(found) >= count
                and found
            ),
            message=f"{count} × {type_} for {application_id}",
        )

    def unit_statuses(self, *unit_ids: str) -> dict[str, str]:
        with self.uow() as uow:
            units = uow.units.get_many(DEMO_PARK, unit_ids)
        return {unit_id: str(unit.status) for unit_id, unit in units.items()}

    def close(self):
        for publisher in (self.portal, self.gov, self.buyback):
            publisher.close()
        self.database.dispose()


@pytest.fixture
def clock():
    return FakeClock(FRIDAY_MORNING)


@pytest.fixture
def onboarding(rabbit_config, make_database_url, container_factory, clock, request):
    backend = getattr(request, "param", "postgresql")
    amqp_uri = nameko.config["AMQP_URI"]
    topology = build_topology(PARK_SUBSCRIPTIONS, retry_delays=(1, 2))
    declare_topology(topology, amqp_uri)
    declare_observer(amqp_uri, "observer.onboarding", "onboarding.events")

    url = make_database_url("onboarding", backend)
    upgrade(url, ROOT / "services" / "onboarding" / "migrations")
    world = Onboarding(amqp_uri, url, container_factory, clock)
    handlers.load_parks(
        [
            (park, Path(park.source).read_text("utf-8"))
            for park in load_park_definitions(PARKS).values()
        ],
        world.uow(),
    )
    settings = service_settings("onboarding", url)
    with nameko.config.patch(settings):
        yield world
    world.close()
