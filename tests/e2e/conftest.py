"""The park world: all four services — onboarding, ticketing, billing, buyback — running
together on the test's own vhost and fresh PostgreSQL databases, driven only from outside.

* The services run in nameko containers in the test process, each with the test's
  :class:`ParkClock` (so a test can stand on 28 February 2026); for the crash tests the
  buyback service runs instead as an OS process under ``nameko run``
  (:class:`BuybackProcess`), so ``kill -9`` is a real crash; it reads the same clock
  through the file of ``PARK_CLOCK_FILE`` (shared/clock.py), which the test's clock writes.
* Every service publishes as ``guest`` (the test fixtures' service user, docs/messaging.md
  §5); every other system publishes as its own broker user: the portal as ``portal``,
  the joint-review departments as ``gov``, the bank as ``bank``, each firm as
  ``firm-<id>``.
* Two resident firms, one ``legal`` and one ``finance``, both with the ``buyback_review``
  skill, are provisioned on the broker (user, work queue) and registered with ticketing:
  the claim's reviews reach them and they report as any firm does (``firms.events``).
* One observer queue per ``<service>.events`` exchange collects every event the services
  publish (read with :meth:`ParkWorld.events`).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import nameko
import pytest
import yaml
from nameko.standalone.rpc import ClusterRpcClient
from nameko.testing.services import entrypoint_hook
from sqlalchemy import func, select

from services.billing.orm import messaging as billing_tables
from services.billing.service import BillingService
from services.buyback.orm import messaging as buyback_tables
from services.onboarding import handlers as onboarding_handlers
from services.onboarding.domain.park_definition import load_park_definitions
from services.onboarding.domain.uscc import build_uscc
from services.onboarding.orm import messaging as onboarding_tables
from services.onboarding.service import OnboardingService
from services.onboarding.unit_of_work import OnboardingUnitOfWork
from services.ticketing import handlers as ticketing_handlers
from services.ticketing.domain.catalogue import FirmKind
from services.ticketing.domain.firm_directory import Contact, Firm, FirmId
from services.ticketing.orm import messaging as ticketing_tables
from services.ticketing.service import TicketingService
from services.ticketing.unit_of_work import TicketingUnitOfWork
from shared.clock import CLOCK_FILE_VARIABLE, FileClock
from shared.contract import build
from shared.db import Database
from shared.messaging.amqp_client import BrokerAddress, ConfirmingPublisher
from shared.messaging.declare import declare_topology
from shared.messaging.identities import amqp_uri_as, firm_permissions
from shared.messaging.management import ManagementClient
from shared.messaging.publisher import EventPublisher, message_for
from shared.messaging.topology import PARK_SUBSCRIPTIONS, Subscription, build_topology
from shared.tooling.migrate import upgrade
from tests.support.broker import as_user, get_messages, wait_for

ROOT = Path(__file__).resolve().parents[2]
PARKS_DIR = ROOT / "deploy" / "parks"
CALENDAR_DIR = ROOT / "deploy" / "calendar"
NAMEKO = Path(sys.executable).with_name("nameko")
PARK = "aux-shangjie"
SERVICES = ("onboarding", "ticketing", "billing", "buyback")
RETRY_DELAYS = (1, 2)
START_TIMEOUT = 45.0  # nameko run imports a lot, on two cores shared with everyone's tests
FLOW_TIMEOUT = 30.0  # one step of a flow through several services on a loaded machine

MESSAGING_TABLES = {
    "onboarding": onboarding_tables,
    "ticketing": ticketing_tables,
    "billing": billing_tables,
    "buyback": buyback_tables,
}
DEPARTMENTS = (
    "market_regulation",
    "ecology_environment",
    "emergency_management",
    "natural_resources",
)
DOCUMENTS = (
    "入园申请表",
    "营业执照",
    "法定代表人身份证",
    "项目可行性研究报告",
    "环评承诺书",
    "安全生产承诺书",
)


def park_noon(year: int, month: int, day: int) -> datetime:
    """10:00 in the park (Asia/Shanghai, UTC+8) on that day, as UTC."""
    return datetime(year, month, day, 2, 0, tzinfo=UTC)


class ParkClock:
    """The one clock every service in the world reads; the test moves it. Once
    :meth:`share` names a file, every move is also written there, for a service process
    started with ``PARK_CLOCK_FILE`` (shared/clock.py) to read the same time."""

    def __init__(self, now: datetime):
        self._now = now
        self._file: FileClock | None = None

    @property
    def now(self) -> datetime:
        return self._now

    @now.setter
    def now(self, value: datetime) -> None:
        self._now = value
        if self._file is not None:
            self._file.set(value)

    def share(self, path: Path) -> Path:
        self._file = FileClock(path)
        self._file.set(self._now)
        return path

    def __call__(self) -> datetime:
        return self._now

    def park_day(self, year: int, month: int, day: int) -> None:
        self.now = park_noon(year, month, day)

    def advance(self, **delta) -> None:
        self.now = self._now + timedelta(**delta)


def with_clock(service_cls: type, clock) -> type:
    """``service_cls`` with its unit-of-work provider re-made to read ``clock`` (each
    service's ``uow`` provider takes ``clock=``; its other arguments are kept)."""
    provider = service_cls.uow
    args, kwargs = provider._Extension__params  # how nameko itself clones an extension
    replaced = type(provider)(*args, **{**kwargs, "clock": lambda: clock()})
    return type(f"{service_cls.__name__}UnderTest", (service_cls,), {"uow": replaced})


def application(units, *, tenure: str = "purchase", seed: int | None = None) -> dict:
    """A complete ``portal/application_submitted`` payload (every required document, a
    USCC with valid check digits, a manufacturing industry the demo park admits)."""
    seed = seed if seed is not None else uuid.uuid4().int % 10**8
    return {
        "application_id": str(uuid.uuid4()),
        "enterprise": {
            "name": f"郑州回购测试机械有限公司{seed}",
            "uscc": build_uscc("91410100", f"{seed:08d}"),
            "legal_representative": "王建国",
            "contact_phone": "13803710000",
            "industry_code": "C3464",
            "employees": 40,
        },
        "tenure": tenure,
        "requested_units": list(units),
        "documents": list(DOCUMENTS),
        "supply_chain_partner": True,
    }


@dataclass
class ResidentFirm:
    """A firm provisioned on the broker and registered with ticketing."""

    firm_id: str
    kind: str
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
        """A report built but not sent (to send the very same event twice)."""
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


@dataclass(frozen=True)
class Enterprise:
    """An admitted enterprise as onboarding announced it."""

    enterprise_id: str
    application_id: str
    units: tuple[dict, ...]  # units_allocated's units

    @property
    def unit_ids(self) -> list[str]:
        return [unit["unit_id"] for unit in self.units]

    @property
    def purchase_price_fen(self) -> int:
        return sum(unit["price_fen"] or 0 for unit in self.units)


class BuybackProcess:
    """The buyback service under ``nameko run``; stdout and stderr go to ``log_path``."""

    def __init__(
        self, config_path: Path, log_path: Path, amqp_uri: str, queues: list[str], clock_file: Path
    ):
        self.clock_file = clock_file
        self.config_path = config_path
        self.log_path = log_path
        self.amqp_uri = amqp_uri
        self.queues = queues
        self.process: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        with open(self.log_path, "a", encoding="utf-8") as log:
            log.write(f"===== start #{self.starts} =====\n")
            log.flush()
            self.process = subprocess.Popen(
                [
                    str(NAMEKO),
                    "run",
                    "--config",
                    str(self.config_path),
                    "services.buyback.service:BuybackService",
                ],
                cwd=ROOT,
                env={
                    **os.environ,
                    "PYTHONPATH": str(ROOT),
                    "PYTHONUNBUFFERED": "1",
                    CLOCK_FILE_VARIABLE: str(self.clock_file),
                },
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_for(
            self._consuming,
            timeout=START_TIMEOUT,
            interval=0.2,
            message="the buyback process to consume from all its queues",
        )

    def kill9(self) -> None:
        """Crash it: no shutdown, no acks, open transactions left to the database."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        wait_for(
            lambda: self._consumers() == 0,
            timeout=15,
            message="the broker to drop the buyback consumers",
        )

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def logs(self, tail: int = 150) -> str:
        if not self.log_path.exists():
            return ""
        lines = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        return "\n".join(lines[-tail:])

    def _consuming(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"buyback exited with {self.process.returncode}:\n{self.logs(60)}")
        return self._consumers() == len(self.queues)

    def _consumers(self) -> int:
        connection = BrokerAddress.from_uri(self.amqp_uri).connect()
        try:
            channel = connection.channel()
            return sum(channel.queue_declare(q, passive=True)[2] > 0 for q in self.queues)
        finally:
            connection.close()


class ParkWorld:
    """The four services on one vhost, and the systems around them."""

    def __init__(self, amqp_uri: str, make_database_url, container_factory, clock, tmp_path):
        self.amqp_uri = amqp_uri
        self.container_factory = container_factory
        self.clock = clock
        self.tmp_path = tmp_path
        self.topology = build_topology(PARK_SUBSCRIPTIONS, retry_delays=RETRY_DELAYS)
        declare_topology(self.topology, amqp_uri)
        self._declare_observers()
        self.database_urls = {service: make_database_url(service) for service in SERVICES}
        for service, url in self.database_urls.items():
            upgrade(url, ROOT / "services" / service / "migrations")
        self.databases = {s: Database(url) for s, url in self.database_urls.items()}
        self._load_parks()
        self.publishers = {
            user: EventPublisher(as_user(amqp_uri, user), user, clock=lambda: self.clock())
            for user in ("portal", "gov", "bank", "onboarding")
        }
        self.management = ManagementClient.for_broker(None, BrokerAddress.from_uri(amqp_uri))
        self.vhost = BrokerAddress.from_uri(amqp_uri).vhost
        self.containers: dict[str, Any] = {}
        self.buyback_process: BuybackProcess | None = None
        self.firms: list[ResidentFirm] = []
        self.work: dict[str, list[dict]] = {}  # firm id → its work messages read so far
        self.seen: list[dict] = []
        self._seen_ids: set[str] = set()
        self.copies: Counter[str] = Counter()  # event_id → deliveries to the observer

    # -- setting up ---------------------------------------------------------------------

    def settings(self) -> dict:
        return {
            "AMQP_URI": self.amqp_uri,
            "DATABASES": dict(self.database_urls),
            "RETRY_DELAYS": list(RETRY_DELAYS),
            "OUTBOX": {"poll_interval": 0.2},
            "LOG_LEVEL": "WARNING",
            "PARKS_DIR": str(PARKS_DIR),
            "CALENDAR_DATA_DIR": str(CALENDAR_DIR),
        }

    def _declare_observers(self) -> None:
        connection = BrokerAddress.from_uri(self.amqp_uri).connect()
        try:
            channel = connection.channel()
            for service in SERVICES:
                queue = f"observer.e2e.{service}"
                channel.queue_declare(queue, durable=True, auto_delete=False)
                channel.queue_bind(queue, f"{service}.events", "#")
        finally:
            connection.close()

    def _load_parks(self) -> None:
        onboarding_handlers.load_parks(
            [
                (park, Path(park.source).read_text("utf-8"))
                for park in load_park_definitions(PARKS_DIR).values()
            ],
            self.onboarding_uow(),
        )

    def onboarding_uow(self) -> OnboardingUnitOfWork:
        return OnboardingUnitOfWork(
            self.databases["onboarding"],
            onboarding_tables,
            source="onboarding",
            clock=lambda: self.clock(),
        )

    def ticketing_uow(self) -> TicketingUnitOfWork:
        return TicketingUnitOfWork(
            self.databases["ticketing"],
            ticketing_tables,
            source="ticketing",
            clock=lambda: self.clock(),
        )

    def start(self, *, buyback_as_process: bool = False) -> None:
        """Start the four services (buyback in a container, or as an OS process)."""
        from services.buyback.service import BuybackService  # being built: import late

        classes = {
            "onboarding": OnboardingService,
            "ticketing": TicketingService,
            "billing": BillingService,
        }
        if not buyback_as_process:
            classes["buyback"] = BuybackService
        for service, cls in classes.items():
            container = self.container_factory(with_clock(cls, self.clock))
            container.start()
            self.containers[service] = container
        if buyback_as_process:
            config_path = self.tmp_path / "buyback.yaml"
            config_path.write_text(yaml.safe_dump(self.settings()), encoding="utf-8")
            queues = [Subscription(*s).queue for s in PARK_SUBSCRIPTIONS if s[0] == "buyback"]
            self.buyback_process = BuybackProcess(
                config_path,
                self.tmp_path / "buyback.log",
                self.amqp_uri,
                queues,
                self.clock.share(self.tmp_path / "clock"),
            )
            self.buyback_process.start()

    def stop(self, service: str) -> None:
        """Stop a service's container (cleanly: what it has not consumed waits in its
        queues)."""
        self.containers.pop(service).stop()

    def restart(self, service: str) -> None:
        """Start a stopped service again, in a new container on the same database."""
        from services.buyback.service import BuybackService

        classes = {
            "onboarding": OnboardingService,
            "ticketing": TicketingService,
            "billing": BillingService,
            "buyback": BuybackService,
        }
        container = self.container_factory(with_clock(classes[service], self.clock))
        container.start()
        self.containers[service] = container

    def add_firm(self, kind: str) -> ResidentFirm:
        """Provision a ``kind`` firm that takes buyback reviews (broker user, work queue,
        permissions, as ticketing provisions one) and register it with ticketing."""
        firm_id = f"e2e{kind[:3]}-{uuid.uuid4().hex[:10]}"  # broker users are global
        password = f"pw-{uuid.uuid4().hex}"
        user = f"firm-{firm_id}"
        connection = BrokerAddress.from_uri(self.amqp_uri).connect()
        try:
            channel = connection.channel()
            queue, binding = self.topology.firm_work(firm_id)
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
        firm = ResidentFirm(
            firm_id, kind, uri, EventPublisher(uri, "firms", clock=lambda: self.clock())
        )
        self.firms.append(firm)
        ticketing_handlers.register_firm(
            self.ticketing_uow(),
            Firm(
                firm_id=FirmId(firm_id),
                name=f"{firm_id} 事务所",
                kind=FirmKind(kind),
                skills=frozenset({"buyback_review"}),
                capacity=10,
                contact=Contact("周正", "0371-6812-0101"),
            ),
            self.clock(),
            park_id=PARK,
        )
        return firm

    # -- calling the services -----------------------------------------------------------

    def rpc(self, service: str, method: str, *args, **kwargs):
        if service == "buyback" and self.buyback_process is not None:
            with ClusterRpcClient() as client:
                return getattr(client.buyback, method)(*args, **kwargs)
        with entrypoint_hook(self.containers[service], method) as call:
            return call(*args, **kwargs)

    # -- what other systems publish -----------------------------------------------------

    def publish(self, user: str, type_: str, payload: dict) -> dict:
        return self.publishers[user].publish(type_, payload, park_id=PARK)

    def envelope(
        self, source: str, type_: str, payload: dict, occurred_at: datetime | None = None
    ) -> dict:
        """An event built but not sent, occurring now on the world's clock (or then)."""
        return build(source, type_, payload, occurred_at=occurred_at or self.clock(), park_id=PARK)

    def send(self, envelope: dict) -> None:
        """Publish a built envelope as its source's broker user (to send it again)."""
        source = envelope["source"]
        publisher = ConfirmingPublisher(BrokerAddress.from_uri(as_user(self.amqp_uri, source)))
        try:
            publisher.publish([message_for(envelope, user_id=source)])
        finally:
            publisher.close()

    def admit(self, units, *, tenure: str = "purchase", seed: int | None = None) -> Enterprise:
        """The portal applies, the four departments approve: the enterprise is admitted
        and holds ``units`` (bought, unless ``tenure`` says otherwise). The same ``seed``
        is the same USCC: a second application joins the enterprise admitted before."""
        sent = application(units, tenure=tenure, seed=seed)
        application_id = sent["application_id"]
        self.publish("portal", "application_submitted", sent)
        self.wait_for("onboarding", "review_requested", application_id=application_id)
        for department in DEPARTMENTS:
            self.publish(
                "gov",
                "review_decided",
                {
                    "application_id": application_id,
                    "department": department,
                    "decision": "approve",
                    "reason": "",
                },
            )
        [admitted] = self.wait_for(
            "onboarding", "enterprise_admitted", application_id=application_id
        )
        [allocated] = self.wait_for("onboarding", "units_allocated", application_id=application_id)
        self.wait_until_applied("buyback", admitted, allocated)
        return Enterprise(
            admitted["payload"]["enterprise_id"],
            application_id,
            tuple(allocated["payload"]["units"]),
        )

    def start_production(self, enterprise: Enterprise, started_on: date) -> None:
        self.rpc("onboarding", "record_production_start", enterprise.enterprise_id, str(started_on))
        [started] = self.wait_for(
            "onboarding",
            "production_started",
            enterprise_id=enterprise.enterprise_id,
            started_on=str(started_on),
        )
        self.wait_until_applied("buyback", started)

    def wait_until_applied(self, service: str, *events: dict) -> None:
        """Until ``service`` has consumed each event: the buyback's projection complete
        before a test's claim comes (a claim handled ahead of its enterprise's units or
        production start is refused — see test_buyback_duplicates.py)."""
        for event in events:
            wait_for(
                lambda e=event: self.applied(service, e["event_id"]),
                timeout=FLOW_TIMEOUT,
                message=f"{service} to consume {event['type']} {event['event_id']}",
            )

    def request_buyback(self, enterprise: Enterprise, claim_id: str | None = None) -> str:
        """The portal files a claim (``occurred_at`` on the world's clock)."""
        claim_id = claim_id or str(uuid.uuid4())
        self.publish("portal", "buyback_requested", self.claim_payload(enterprise, claim_id))
        return claim_id

    def add_review_firms(self) -> dict[str, ResidentFirm]:
        """One legal and one finance firm taking buyback reviews: review → its firm."""
        return {"legal": self.add_firm("legal"), "finance": self.add_firm("finance")}

    def review_tickets(self, claim_id: str) -> dict[str, str]:
        """review (``legal`` | ``finance``) → ticket id, once ticketing assigned both."""
        assigned = self.wait_for("ticketing", "ticket_assigned", 2, claim_id=claim_id)
        return {e["payload"]["review"]: e["payload"]["ticket_id"] for e in assigned}

    def work_for(self, firm: ResidentFirm) -> list[dict]:
        """Every message that reached the firm's work queue so far (read as the firm)."""
        found = self.work.setdefault(firm.firm_id, [])
        for message in get_messages(firm.amqp_uri, firm.queue):
            found.append(json.loads(message.body))
        return found

    def wait_for_work_withdrawn(self, firm: ResidentFirm, ticket_id: str) -> dict:
        return wait_for(
            lambda: next(
                (
                    m
                    for m in self.work_for(firm)
                    if m["type"] == "work_withdrawn" and m["payload"]["ticket_id"] == ticket_id
                ),
                None,
            ),
            timeout=FLOW_TIMEOUT,
            message=f"work_withdrawn of {ticket_id} on {firm.queue}",
        )

    def unit_statuses(self, enterprise: Enterprise) -> dict[str, tuple[str, str | None]]:
        """unit id → (status, holder) in onboarding's inventory."""
        found = {}
        for building in sorted({unit_id.split("-")[0] for unit_id in enterprise.unit_ids}):
            listing = self.rpc("onboarding", "query_units", PARK, building=building)
            for unit in listing["units"]:
                if unit["unit_id"] in enterprise.unit_ids:
                    found[unit["unit_id"]] = (unit["status"], unit["holder"])
        return found

    @staticmethod
    def claim_payload(enterprise: Enterprise, claim_id: str) -> dict:
        return {
            "claim_id": claim_id,
            "enterprise_id": enterprise.enterprise_id,
            "reason": "订单大幅下滑，连续两个季度亏损，申请十年回购",
            "evidence": ["2026年三季度财务报表", "银行贷款逾期通知书"],
        }

    # -- what the services published ----------------------------------------------------

    def events(self) -> list[dict]:
        """Every event of the four services so far, once per ``event_id`` (delivery is at
        least once: a relay retry may publish a row again), in arrival order."""
        for service in SERVICES:
            for message in get_messages(self.amqp_uri, f"observer.e2e.{service}"):
                envelope = json.loads(message.body)
                self.copies[envelope["event_id"]] += 1
                if envelope["event_id"] not in self._seen_ids:
                    self._seen_ids.add(envelope["event_id"])
                    self.seen.append(envelope)
        return self.seen

    def events_where(self, source: str, type_: str | None = None, **fields) -> list[dict]:
        return [
            e
            for e in self.events()
            if e["source"] == source
            and (type_ is None or e["type"] == type_)
            and all(e["payload"].get(k) == v for k, v in fields.items())
        ]

    def wait_for(
        self, source: str, type_: str, count: int = 1, timeout: float = FLOW_TIMEOUT, **fields
    ) -> list[dict]:
        return wait_for(
            lambda: (
                (found := self.events_where(source, type_, **fields))
                and len(found) >= count
                and found
            ),
            timeout=timeout,
            interval=0.1,
            message=f"{count} × {source}/{type_} with {fields}",
        )

    def claim_events(self, claim_id: str) -> list[str]:
        """The types of the buyback events about the claim, in order."""
        return [e["type"] for e in self.events_where("buyback", claim_id=claim_id)]

    def applied(self, service: str, event_id: str) -> bool:
        """Whether ``service`` consumed the event (its inbox row, committed with the
        effect — or, for a handler with nothing to change, before the ack)."""
        inbox = MESSAGING_TABLES[service].inbox
        with self.databases[service].transaction() as session:
            found = session.execute(
                select(func.count()).where(inbox.c.event_id == event_id)
            ).scalar_one()
        return found > 0

    def unsent(self, service: str) -> int:
        """Rows in the service's outbox its relay has not published yet."""
        outbox = MESSAGING_TABLES[service].outbox
        with self.databases[service].transaction() as session:
            return session.execute(
                select(func.count()).where(outbox.c.sent_at.is_(None))
            ).scalar_one()

    def queue_depths(self) -> dict[str, int]:
        """Ready messages in every queue of the topology (unacked ones are not counted)."""
        connection = BrokerAddress.from_uri(self.amqp_uri).connect()
        try:
            channel = connection.channel()
            return {
                queue.name: channel.queue_declare(queue.name, passive=True)[1]
                for queue in self.topology.queues()
            }
        finally:
            connection.close()

    def dead_letters(self) -> dict[str, list]:
        """Every service's dead letters (taken off its DLQ)."""
        return {s: get_messages(self.amqp_uri, f"{s}.dlq") for s in SERVICES}

    def close(self) -> None:
        if self.buyback_process is not None:
            self.buyback_process.stop()
        for publisher in self.publishers.values():
            publisher.close()
        for firm in self.firms:
            firm.publisher.close()
            self.management._call_optional("DELETE", f"users/firm-{firm.firm_id}")
        for database in self.databases.values():
            database.dispose()


@pytest.fixture
def clock() -> ParkClock:
    return ParkClock(park_noon(2026, 11, 2))


@pytest.fixture
def park_world(
    rabbit_config, make_database_url, container_factory, clock, tmp_path, request
) -> Iterator[ParkWorld]:
    """The four services' world, not started yet (``park_world.start()``)."""
    world = ParkWorld(
        nameko.config["AMQP_URI"], make_database_url, container_factory, clock, tmp_path
    )
    request.node.park_world = world
    try:
        with nameko.config.patch(world.settings()):
            yield world
    finally:
        world.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failing test shows the buyback process's log (when it ran as one)."""
    outcome = yield
    report = outcome.get_result()
    world = getattr(item, "park_world", None)
    if report.failed and world is not None and world.buyback_process is not None:
        report.sections.append(("buyback process log (tail)", world.buyback_process.logs()))
