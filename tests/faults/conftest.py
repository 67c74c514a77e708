"""Fault injection against real processes: the recorder services run under ``nameko run``
as OS processes (so ``kill -9`` is a real crash), on the test's own vhost and databases.

A failing test shows the tail of every service process's log in its report.
"""

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nameko
import pytest
import yaml
from sqlalchemy import func, select

from shared.db import make_engine
from shared.messaging.amqp_client import BrokerAddress
from shared.messaging.declare import declare_topology
from shared.messaging.publisher import EventPublisher
from shared.messaging.topology import Subscription, build_topology
from shared.tooling.migrate import upgrade
from tests.services import recorder
from tests.support.broker import wait_for

ROOT = Path(__file__).parents[2]
MIGRATIONS = ROOT / "tests" / "services" / "migrations"
NAMEKO = Path(sys.executable).with_name("nameko")
SERVICES = ("alpha", "beta")
RETRY_DELAYS = (1, 2)
START_TIMEOUT = 30.0  # nameko run imports a lot; two cores shared with PostgreSQL and RabbitMQ


def consumer_count(amqp_uri: str, queue: str) -> int:
    connection = BrokerAddress.from_uri(amqp_uri).connect()
    try:
        _, _, consumers = connection.channel().queue_declare(queue, passive=True)
        return consumers
    finally:
        connection.close()


def service_queues(service: str) -> list[str]:
    return [Subscription(*s).queue for s in recorder.SUBSCRIPTIONS if s[0] == service]


class ServiceProcess:
    """One recorder service under ``nameko run``; its stdout and stderr go to ``log_path``."""

    def __init__(
        self,
        service: str,
        config_path: Path,
        log_path: Path,
        amqp_uri: str,
        target: str | None = None,
    ):
        self.service = service
        # what `nameko run` runs: by default the recorder's own class of the service
        self.target = target or f"tests.services.recorder:{service.capitalize()}"
        self.config_path = config_path
        self.log_path = log_path
        self.amqp_uri = amqp_uri
        self.process: subprocess.Popen | None = None
        self.starts = 0

    def start(self, *, wait: bool = True) -> "ServiceProcess":
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
                    self.target,
                ],
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        if wait:
            self.wait_until_consuming()
        return self

    def kill9(self) -> None:
        """Crash it: no shutdown, no acks, open transactions left to the database."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        # The broker hands the unacked messages back once it sees the connections close.
        wait_for(
            lambda: self._consumers() == 0,
            timeout=10,
            message=f"the broker to drop {self.service}'s consumers",
        )

    def restart(self) -> None:
        self.start()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def logs(self, tail: int | None = None) -> str:
        lines = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        return "\n".join(lines[-tail:] if tail else lines)

    def wait_until_consuming(self, timeout: float = START_TIMEOUT) -> None:
        """Wait until every work queue of the service has a consumer again."""

        def consuming() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"{self.service} exited with {self.process.returncode}:\n{self.logs(40)}"
                )
            return self._consumers() >= len(service_queues(self.service))

        wait_for(
            consuming,
            timeout=timeout,
            interval=0.2,
            message=f"{self.service} to consume from all its queues",
        )

    def _consumers(self) -> int:
        return sum(consumer_count(self.amqp_uri, q) > 0 for q in service_queues(self.service))


class FaultWorld:
    """The alpha and beta services on the test's vhost and fresh PostgreSQL databases."""

    def __init__(self, amqp_uri: str, make_database_url, tmp_path: Path):
        self.amqp_uri = amqp_uri
        self.tmp_path = tmp_path
        self.topology = build_topology(
            recorder.SUBSCRIPTIONS, services=SERVICES, sources=("probe",), retry_delays=RETRY_DELAYS
        )
        declare_topology(self.topology, amqp_uri)
        self.database_urls = {name: make_database_url(name) for name in SERVICES}
        for url in self.database_urls.values():
            upgrade(url, MIGRATIONS)
        self.config_path = tmp_path / "services.yaml"
        self.config_path.write_text(
            yaml.safe_dump(
                {
                    "AMQP_URI": amqp_uri,
                    "DATABASES": self.database_urls,
                    "RETRY_DELAYS": list(RETRY_DELAYS),
                    "OUTBOX": {"poll_interval": 0.5},
                    "LOG_LEVEL": "WARNING",
                }
            )
        )
        self.publisher = EventPublisher(amqp_uri, "probe")
        self.engines = {
            name: make_engine(url, pool_size=2) for name, url in self.database_urls.items()
        }
        self.processes: list[ServiceProcess] = []

    def start(
        self, service: str, *, wait: bool = True, target: str | None = None
    ) -> ServiceProcess:
        """Run the service as a process; by default, return once it consumes.
        ``target`` (``module:Class``) runs another class of the service, e.g. a batched one."""
        process = ServiceProcess(
            service, self.config_path, self.tmp_path / f"{service}.log", self.amqp_uri, target
        )
        self.processes.append(process)
        return process.start(wait=wait)

    def effects(self, service: str) -> dict[str, int]:
        """thing_id → how many effects the service applied for it."""
        with self.engines[service].connect() as connection:
            return recorder.effect_counts(connection)

    def unsent(self, service: str) -> int:
        """Rows in the service's outbox the relay has not marked sent."""
        with self.engines[service].connect() as connection:
            return connection.execute(
                select(func.count()).where(recorder.TABLES.outbox.c.sent_at.is_(None))
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

    def quiet(self) -> bool:
        """Nothing waiting anywhere: no ready message in a work or retry queue, no unsent
        outbox row. (The dead-letter queues are checked by the tests themselves.)"""
        waiting = {
            name: count
            for name, count in self.queue_depths().items()
            if count and not name.endswith(".dlq")
        }
        return not waiting and not any(self.unsent(service) for service in SERVICES)

    def close(self) -> None:
        for process in self.processes:
            process.stop()
        self.publisher.close()
        for engine in self.engines.values():
            engine.dispose()


@pytest.fixture
def world(rabbit_config, make_database_url, tmp_path, request) -> Iterator[FaultWorld]:
    world = FaultWorld(nameko.config["AMQP_URI"], make_database_url, tmp_path)
    request.node.service_processes = world.processes  # for the failure report below
    try:
        yield world
    finally:
        world.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for process in getattr(item, "service_processes", ()):
            report.sections.append(
                (f"{process.service} log (last 150 lines)", process.logs(tail=150))
            )


def rabbitmqctl(*args: str, timeout: float = 60.0) -> None:
    subprocess.run(
        ["rabbitmqctl", *args],
        check=True,
        timeout=timeout,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def restart_broker() -> None:
    """Stop and start the RabbitMQ application: every connection drops; durable queues,
    their messages, vhosts and users survive (the Erlang node itself keeps running)."""
    try:
        rabbitmqctl("stop_app")
    finally:  # never leave the broker down for the tests that come after
        rabbitmqctl("start_app")
        rabbitmqctl("await_startup")
