"""The demo's park: its own vhost and databases, the four services as OS processes running
as their own broker users, a clock file they all read, an observer of every service's
events, and the ingress systems and firms the demo plays.

Nothing here is shared with ``make run``: the vhost is ``park-demo`` (deleted and made
again at each run), the databases are SQLite files under ``var/demo/``, the metrics ports
are chosen by the kernel. The park, its catalogue and its firms are the repository's
(``deploy/``), loaded with the same ``park`` commands an operator runs.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from clients.firm.client import FirmClient
from shared.clock import CLOCK_FILE_VARIABLE, FileClock
from shared.messaging.amqp_client import BrokerAddress
from shared.messaging.identities import amqp_uri_as, dev_password
from shared.messaging.management import ManagementClient
from shared.messaging.publisher import EventPublisher

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ("onboarding", "ticketing", "billing", "buyback")
SYSTEMS = ("portal", "gov", "bank", "meters")
OBSERVER = "demo.observer"
START_TIMEOUT = 90.0  # four interpreters importing nameko at once on two cores


class DemoFailed(RuntimeError):
    """The park did not do what the demo expected, in time: the message says what."""


@dataclass
class Settings:
    """Where the demo runs: the broker of ``AMQP_URI`` (its host, port and operator
    credentials; the demo uses its own vhost there) and ``RABBIT_MANAGEMENT_URL``, with the
    development config's defaults."""

    broker_uri: str = field(
        default_factory=lambda: os.environ.get("AMQP_URI", "pyamqp://guest:guest@127.0.0.1:5672/")
    )
    management_url: str = field(
        default_factory=lambda: os.environ.get("RABBIT_MANAGEMENT_URL", "http://127.0.0.1:15672")
    )
    vhost: str = "park-demo"
    work_dir: Path = ROOT / "var" / "demo"
    config: Path = ROOT / "config" / "development.yaml"

    def amqp_uri(self) -> str:
        """The broker on the demo's vhost, as ``AMQP_URI``'s own user."""
        parts = urlsplit(self.broker_uri)
        return urlunsplit((parts.scheme, parts.netloc, "/" + quote(self.vhost, safe=""), "", ""))


@dataclass
class Observed:
    """Every event the services published, in arrival order (the observer queue)."""

    events: list[dict[str, Any]] = field(default_factory=list)

    def of(self, source: str, type_: str, **match: Any) -> list[dict[str, Any]]:
        return [
            e
            for e in self.events
            if e["source"] == source
            and e["type"] == type_
            and all(e["payload"].get(k) == v for k, v in match.items())
        ]


class DemoWorld:
    def __init__(self, settings: Settings, *, say: Callable[[str], None] = print):
        self.settings = settings
        self.say = say
        self.work = settings.work_dir
        self.clock = FileClock(self.work / "clock")
        self.observed = Observed()
        self.processes: dict[str, subprocess.Popen] = {}
        self._publishers: dict[str, EventPublisher] = {}
        self._firms: dict[str, FirmClient] = {}
        self._observer_connection = None
        self._rpc = None

    # -- set-up -------------------------------------------------------------------------

    def environment(self, **extra: str) -> dict[str, str]:
        """What every process of the demo runs with: the demo's broker vhost, databases
        and clock, the repository's park files and catalogue."""
        env = {
            **os.environ,
            "PARK_CONFIG": str(self.settings.config),
            "AMQP_URI": self.settings.amqp_uri(),
            "RABBIT_MANAGEMENT_URL": self.settings.management_url,
            "PARK_CLI_USER": "",  # the demo's tooling runs as guest on its own vhost
            CLOCK_FILE_VARIABLE: str(self.clock.path),
            "LOG_LEVEL": "WARNING",
            "RETRY_DELAYS": "[1, 2, 5]",
            "OUTBOX_POLL_INTERVAL": "0.2",
            # nameko's eventlet import warns at start; the Makefile's filter (make run)
            "PYTHONWARNINGS": "ignore::Warning:nameko.extensions",
        }
        for service in SERVICES:
            upper = service.upper()
            env[f"{upper}_DATABASE_URL"] = f"sqlite:///{self.work / f'{service}.sqlite'}"
            env[f"{upper}_METRICS_PORT"] = "0"  # any free port: never clash with make run
        env.update(extra)
        return env

    def prepare(self, start: datetime) -> None:
        """A fresh vhost and work directory, the topology and the broker users, the
        databases migrated, the parks and the firms loaded."""
        if self.work.exists():
            shutil.rmtree(self.work)
        (self.work / "firms").mkdir(parents=True)
        self.clock.set(start)
        management = self.management()
        management.delete_vhost(self.settings.vhost, missing_ok=True)
        management.create_vhost(self.settings.vhost)
        management.set_permissions(self.settings.vhost, management.user, ".*", ".*", ".*")
        for step in (
            ["topology", "declare"],
            ["db", "migrate"],
            ["parks", "load"],
            ["firms", "load"],
        ):
            self.park(*step)
        self._declare_observer()

    def management(self) -> ManagementClient:
        address = BrokerAddress.from_uri(self.settings.amqp_uri())
        return ManagementClient.for_broker(self.settings.management_url, address)

    def park(self, *args: str) -> str:
        """Run one ``park`` command of the operator CLI against the demo's park."""
        command = [sys.executable, "-m", "shared.tooling.cli", *args]
        done = subprocess.run(
            command, cwd=ROOT, env=self.environment(), capture_output=True, text=True
        )
        if done.returncode != 0:
            raise DemoFailed(
                f"park {' '.join(args)} exited {done.returncode}:\n{done.stdout}{done.stderr}"
            )
        return done.stdout

    def _declare_observer(self) -> None:
        connection = BrokerAddress.from_uri(self.settings.amqp_uri()).connect()
        channel = connection.channel()
        channel.queue_declare(OBSERVER, durable=True, auto_delete=False)
        for service in SERVICES:
            channel.queue_bind(OBSERVER, f"{service}.events", "#")
        self._observer_connection = connection
        self._observer_channel = channel

    # -- the services --------------------------------------------------------------------

    def start_services(self) -> None:
        for service in SERVICES:
            user_uri = amqp_uri_as(self.settings.amqp_uri(), service, dev_password(service))
            with open(self.work / f"{service}.log", "ab") as log:  # the child keeps its copy
                self.processes[service] = subprocess.Popen(
                    [
                        str(Path(sys.executable).with_name("nameko")),
                        "run",
                        "--config",
                        str(self.settings.config),
                        f"services.{service}.service",
                    ],
                    cwd=ROOT,
                    env=self.environment(AMQP_URI=user_uri),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
        self.wait(self._services_consuming, "every service consuming its queues", START_TIMEOUT)

    def _services_consuming(self) -> bool:
        for service, process in self.processes.items():
            if process.poll() is not None:
                raise DemoFailed(f"{service} exited {process.returncode}: {self.log_tail(service)}")
        queues = self.management().queues(self.settings.vhost)
        rpc = {q["name"]: q.get("consumers", 0) for q in queues if q["name"].startswith("rpc-")}
        work = [
            q
            for q in queues
            if q["name"].split(".", 1)[0] in SERVICES
            and ".retry." not in q["name"]
            and not q["name"].endswith(".dlq")
        ]
        return all(rpc.get(f"rpc-{s}", 0) >= 1 for s in SERVICES) and all(
            q.get("consumers", 0) >= 1 for q in work
        )

    def log_tail(self, service: str, lines: int = 15) -> str:
        path = self.work / f"{service}.log"
        if not path.exists():
            return "(no log)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        """Close the demo's own connections, then stop the services — always, even when a
        connection fails to close (a broken one after a failed step): a service left
        running would consume from the next run's queues."""
        closers = [client.close for client in self._firms.values()]
        closers += [publisher.close for publisher in self._publishers.values()]
        if self._rpc is not None:
            closers.append(lambda: self._rpc.__exit__(None, None, None))
        if self._observer_connection is not None:
            closers.append(self._observer_connection.close)
        for close in closers:
            try:
                close()
            except Exception as error:  # teardown: say it, then stop the services
                self.say(f"(closing a connection failed: {type(error).__name__}: {error})")
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def remove(self) -> None:
        self.management().delete_vhost(self.settings.vhost)

    # -- talking to the park ------------------------------------------------------------

    def publisher(self, system: str) -> EventPublisher:
        """The ingress system ``system`` publishing as its own broker user, at demo time."""
        if system not in self._publishers:
            uri = amqp_uri_as(self.settings.amqp_uri(), system, dev_password(system))
            self._publishers[system] = EventPublisher(uri, source=system, clock=self.clock)
        return self._publishers[system]

    def publish(self, system: str, type_: str, payload: dict[str, Any], **kw) -> dict:
        return self.publisher(system).publish(type_, payload, park_id="aux-shangjie", **kw)

    def firm(self, firm_id: str) -> FirmClient:
        """A resident firm's client (its own broker user, its own local store)."""
        if firm_id not in self._firms:
            uri = amqp_uri_as(self.settings.amqp_uri(), f"firm-{firm_id}", f"dev-{firm_id}")
            self._firms[firm_id] = FirmClient(
                firm_id, uri, self.work / "firms" / f"{firm_id}.sqlite", clock=self.clock
            )
        return self._firms[firm_id]

    def rpc(self, service: str):
        """A nameko RPC proxy to ``service`` (as guest, on the demo's vhost)."""
        if self._rpc is None:
            from nameko.standalone.rpc import ClusterRpcClient

            self._rpc = ClusterRpcClient(uri=self.settings.amqp_uri(), timeout=60)
            self._cluster = self._rpc.__enter__()
        return getattr(self._cluster, service)

    def set_time(self, now: datetime) -> None:
        self.clock.set(now)

    def drain(self) -> None:
        """Move what reached the observer queue into :attr:`observed`."""
        channel = self._observer_channel
        while (message := channel.basic_get(OBSERVER)) is not None:
            self.observed.events.append(json.loads(message.body))
            channel.basic_ack(message.delivery_tag)

    def wait(self, probe: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            if self._observer_connection is not None:
                self.drain()
            value = probe()
            if value:
                return value
            if time.monotonic() > deadline:
                raise DemoFailed(f"timed out after {timeout:.0f}s waiting for {what}")
            time.sleep(0.1)

    def wait_for_events(
        self, source: str, type_: str, count: int, what: str, timeout: float = 60.0, **match
    ) -> list[dict[str, Any]]:
        return self.wait(
            lambda: (
                (found := self.observed.of(source, type_, **match))
                and len(found) >= count
                and found
            ),
            f"{what} ({count} × {source}/{type_})",
            timeout,
        )

    def quiet(self, timeout: float = 60.0) -> None:
        """Wait until no queue of the services holds a message (the park caught up). The
        firms' work queues are the firms' business, not the park's."""
        busy: list[str] = []

        def idle() -> bool:
            busy[:] = [
                f"{q['name']} ({q['messages']})"
                for q in self.management().queues(self.settings.vhost)
                if q["name"].split(".", 1)[0] in SERVICES
                and not q["name"].endswith(".dlq")
                and q.get("messages", 0)
            ]
            return not busy

        time.sleep(0.5)  # the management API's counts lag a little behind
        try:
            self.wait(idle, "the services' queues to empty", timeout)
        except DemoFailed as failure:
            raise DemoFailed(f"{failure}; still holding messages: {', '.join(busy)}") from None

    def dead_letters(self) -> dict[str, int]:
        queues = self.management().queues(self.settings.vhost)
        return {
            q["name"]: q.get("messages", 0)
            for q in queues
            if q["name"].endswith(".dlq") and q.get("messages", 0)
        }


@contextmanager
def running_world(settings: Settings, start: datetime, *, keep: bool, say) -> Iterator[DemoWorld]:
    world = DemoWorld(settings, say=say)
    say(f"preparing vhost {settings.vhost!r} and {settings.work_dir}")
    world.prepare(start)
    say("starting onboarding, ticketing, billing and buyback")
    try:
        world.start_services()
        yield world
    finally:
        world.stop()
        if not keep:
            world.remove()
