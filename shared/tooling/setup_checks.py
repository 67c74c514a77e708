"""``make run``'s set-up of the local broker and PostgreSQL (``make check-broker``,
``make check-db``).

Where the broker is on this machine (``127.0.0.1``, ``localhost``, ``::1``) and installed,
the set-up starts it when it is not running (``rabbitmq-server -detached``) and enables
its management plugin when that is off (``rabbitmq-plugins enable rabbitmq_management``),
says so, waits for it, and goes on. The same for PostgreSQL when the config's
``DATABASES`` use it: a local cluster that is installed but stopped is started
(``pg_ctlcluster --skip-systemctl-redirect VERSION CLUSTER start``) and awaited with
``pg_isready``. A remote or absent server is never touched: it gets an error saying what
to do, and a non-zero exit.

The decisions are pure functions (:func:`plan_broker`, :func:`plan_postgresql`: a URL,
what is installed and what the probes saw → a list of steps); :func:`bring_up` is the thin
runner that probes, asks the plan, runs its steps and probes again.

Exit codes of ``python -m shared.tooling.setup_checks broker|postgresql``: 0 ready
(perhaps after starting something), 1 not ready and not ours to fix (the message says
what to do), 2 usage.
"""

from __future__ import annotations

import ipaddress
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import unquote, urlparse

import typer
import yaml

# ---------------------------------------------------------------------------
# What the plans are made of
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    """A server address: host and TCP port."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Run:
    """Run a command; ``say`` tells the user first why."""

    say: str
    command: tuple[str, ...]


@dataclass(frozen=True)
class Await:
    """Wait until ``what`` answers (a probe named by ``probe``), at most ``timeout`` s."""

    say: str
    probe: str  # "amqp", "management", "postgresql"
    endpoint: Endpoint
    timeout: float = 90.0


@dataclass(frozen=True)
class Fail:
    """Not ours to fix: the message says what is wrong and what the user can do."""

    message: str


Step = Run | Await | Fail


@dataclass(frozen=True)
class Cluster:
    """One line of ``pg_lsclusters``."""

    version: str
    name: str
    port: int
    online: bool


def is_local(host: str) -> bool:
    """Whether ``host`` names this machine: ``localhost`` or a loopback address."""
    name = host.strip().strip("[]").lower()
    if name in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


# ---------------------------------------------------------------------------
# The broker
# ---------------------------------------------------------------------------

MANAGEMENT_PLUGIN = "rabbitmq_management"


def plan_broker(
    amqp: Endpoint,
    management: Endpoint,
    installed: Callable[[str], bool],
    amqp_up: bool,
    management_up: bool,
) -> list[Step]:
    """The next steps to a broker whose AMQP port and management API both answer.

    ``installed(name)`` says whether a command is on PATH; ``amqp_up`` and
    ``management_up`` are what the probes saw just now. An empty list: nothing to do.
    """
    if amqp_up and management_up:
        return []
    down = amqp if not amqp_up else management
    what = "RabbitMQ" if not amqp_up else "the RabbitMQ management API"
    if not is_local(down.host):
        return [
            Fail(
                f"{what} is not reachable at {down}, which is not this machine, so it cannot "
                "be started or set up from here. Start it there (rabbitmq-server -detached; "
                "rabbitmq-plugins enable rabbitmq_management), or point AMQP_URI and "
                "RABBIT_MANAGEMENT_URL at a running broker."
            )
        ]
    if not amqp_up:
        if not installed("rabbitmq-server"):
            return [
                Fail(
                    f"RabbitMQ is not running at {amqp} and is not installed here "
                    "(no rabbitmq-server on PATH). Install it (apt-get install "
                    "rabbitmq-server; https://www.rabbitmq.com/docs/download), or point "
                    "AMQP_URI at a running broker."
                )
            ]
        return [
            Run(
                f"RabbitMQ is installed but not running at {amqp}: starting it "
                "(rabbitmq-server -detached)",
                ("rabbitmq-server", "-detached"),
            ),
            Await(f"waiting for RabbitMQ on {amqp}", "amqp", amqp),
        ]
    if not installed("rabbitmq-plugins"):
        return [
            Fail(
                f"the RabbitMQ management API does not answer at {management} and "
                "rabbitmq-plugins is not on PATH to enable it: run "
                "rabbitmq-plugins enable rabbitmq_management where RabbitMQ is installed."
            )
        ]
    return [
        Run(
            f"the RabbitMQ management plugin is off at {management}: enabling it "
            "(rabbitmq-plugins enable rabbitmq_management)",
            ("rabbitmq-plugins", "enable", MANAGEMENT_PLUGIN),
        ),
        Await(f"waiting for the management API on {management}", "management", management),
    ]


# ---------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------

DEFAULT_PG_PORT = 5432


def postgresql_endpoints(databases: Mapping[str, Any] | None) -> list[Endpoint]:
    """The PostgreSQL servers a config's ``DATABASES`` use, in order, without repeats."""
    endpoints: list[Endpoint] = []
    for url in (databases or {}).values():
        parts = urlparse(str(url))
        if parts.scheme.split("+", 1)[0] not in ("postgresql", "postgres"):
            continue
        try:
            port = parts.port or DEFAULT_PG_PORT
        except ValueError:  # "host:notaport": let the migrate step name the bad URL
            continue
        endpoint = Endpoint(unquote(parts.hostname or "localhost"), port)
        if endpoint not in endpoints:
            endpoints.append(endpoint)
    return endpoints


def parse_pg_lsclusters(text: str) -> list[Cluster]:
    """The clusters of ``pg_lsclusters --no-header`` output (lines it cannot read skipped)."""
    clusters = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 4 or not fields[2].isdigit():
            continue
        clusters.append(Cluster(fields[0], fields[1], int(fields[2]), fields[3] == "online"))
    return clusters


def plan_postgresql(
    server: Endpoint,
    installed: Callable[[str], bool],
    ready: bool,
    clusters: Sequence[Cluster],
) -> list[Step]:
    """The next steps to a PostgreSQL server at ``server`` that accepts connections.

    ``ready`` is what ``pg_isready`` (or a TCP probe) saw; ``clusters`` what
    ``pg_lsclusters`` lists on this machine (empty where it is not installed).
    """
    if ready:
        return []
    if not is_local(server.host):
        return [
            Fail(
                f"PostgreSQL is not reachable at {server}, which is not this machine, so it "
                "cannot be started from here. Start it there, or point the config's "
                "DATABASES (ONBOARDING_DATABASE_URL, …) at a running server."
            )
        ]
    if not installed("pg_ctlcluster"):
        return [
            Fail(
                f"PostgreSQL is not running at {server} and no pg_ctlcluster is on PATH to "
                "start it. Install it (apt-get install postgresql) or start your own server "
                "there, or run on SQLite: make run PARK_CONFIG=config/development.yaml."
            )
        ]
    on_port = [cluster for cluster in clusters if cluster.port == server.port]
    if not on_port:
        listed = ", ".join(f"{c.version}/{c.name} on {c.port}" for c in clusters) or "none"
        return [
            Fail(
                f"PostgreSQL is not running at {server} and no cluster here listens on port "
                f"{server.port} (pg_lsclusters: {listed}). Create one "
                f"(pg_createcluster --port {server.port} VERSION main) or fix the port in "
                "the config's DATABASES."
            )
        ]
    cluster = on_port[0]
    steps: list[Step] = []
    if not cluster.online:
        steps.append(
            Run(
                f"PostgreSQL {cluster.version}/{cluster.name} is installed but not running: "
                f"starting it (pg_ctlcluster {cluster.version} {cluster.name} start)",
                (
                    "pg_ctlcluster",
                    "--skip-systemctl-redirect",
                    cluster.version,
                    cluster.name,
                    "start",
                ),
            )
        )
    # Online but not ready: still starting, or recovering; wait for it either way.
    steps.append(Await(f"waiting for PostgreSQL on {server}", "postgresql", server))
    return steps


def database_name(url: str) -> str | None:
    """The database a PostgreSQL URL names (None for another scheme or no name)."""
    parts = urlparse(url)
    if parts.scheme.split("+", 1)[0] not in ("postgresql", "postgres"):
        return None
    return unquote(parts.path.lstrip("/")) or None


def missing_databases(urls: Iterable[str], existing: Iterable[str]) -> list[str]:
    """The databases ``urls`` name that are not in ``existing``, in order, once each."""
    have = set(existing)
    missing: list[str] = []
    for url in urls:
        name = database_name(url)
        if name and name not in have and name not in missing:
            missing.append(name)
    return missing


def ensure_databases(urls: Sequence[str], say: Callable[[str], None] = print) -> list[str]:
    """Create the databases ``urls`` name that their server lacks (say so); the URLs'
    own credentials are used, on the server's ``postgres`` database. Returns those made."""
    import psycopg2
    from psycopg2 import sql

    by_server: dict[str, list[str]] = {}
    for url in urls:
        if database_name(url):
            parts = urlparse(url)
            maintenance = parts._replace(scheme="postgresql", path="/postgres").geturl()
            by_server.setdefault(maintenance, []).append(url)
    created: list[str] = []
    for maintenance, server_urls in by_server.items():
        try:
            connection = psycopg2.connect(maintenance, connect_timeout=10)
        except psycopg2.Error as error:
            raise SetupFailed(
                f"cannot connect to PostgreSQL to check its databases: {error}"
            ) from None
        connection.autocommit = True  # CREATE DATABASE cannot run in a transaction
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT datname FROM pg_database")
                existing = [row[0] for row in cursor.fetchall()]
                for name in missing_databases(server_urls, existing):
                    say(f"creating PostgreSQL database {name}")
                    cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                    created.append(name)
        except psycopg2.Error as error:
            raise SetupFailed(f"cannot create the services' databases: {error}") from None
        finally:
            connection.close()
    return created


# ---------------------------------------------------------------------------
# The runner: probes, commands, waiting
# ---------------------------------------------------------------------------


def port_open(endpoint: Endpoint, timeout: float = 2.0) -> bool:
    try:
        socket.create_connection((endpoint.host, endpoint.port), timeout=timeout).close()
    except OSError:
        return False
    return True


def management_answers(endpoint: Endpoint, timeout: float = 3.0) -> bool:
    """Whether the management API answers HTTP at all (any status: a 401 is an answer;
    wrong credentials are ``park check``'s to report)."""
    import requests

    try:
        requests.get(f"http://{endpoint}/api/overview", timeout=timeout)
    except requests.RequestException:
        return False
    return True


def pg_ready(endpoint: Endpoint, timeout: float = 3.0) -> bool:
    """``pg_isready``'s verdict where it is installed, else whether the port is open."""
    if not shutil.which("pg_isready"):
        return port_open(endpoint, timeout)
    try:
        outcome = subprocess.run(
            ["pg_isready", "-q", "-h", endpoint.host, "-p", str(endpoint.port), "-t", "3"],
            capture_output=True,
            timeout=timeout + 5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return outcome.returncode == 0


def local_clusters() -> list[Cluster]:
    if not shutil.which("pg_lsclusters"):
        return []
    try:
        outcome = subprocess.run(
            ["pg_lsclusters", "--no-header"], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    return parse_pg_lsclusters(outcome.stdout)


def run_detaching(command: Sequence[str], timeout: float = 300) -> subprocess.CompletedProcess:
    """Run a command that may leave a daemon behind (``rabbitmq-server -detached``).

    Its output goes to a file, not a pipe: a daemon that inherits the pipe would keep
    it open, and reading it to the end would wait for the daemon to exit.
    """
    with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as output:
        outcome = subprocess.run(
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            timeout=timeout,
            check=False,
        )
        output.seek(0)
        return subprocess.CompletedProcess(outcome.args, outcome.returncode, output.read(), "")


PROBES: dict[str, Callable[[Endpoint], bool]] = {
    "amqp": port_open,
    "management": management_answers,
    "postgresql": pg_ready,
}


class SetupFailed(RuntimeError):
    """The set-up could not make a server ready; the message says what to do."""


@dataclass
class Runner:
    """Runs plans' steps. Every collaborator is a parameter, so tests control them."""

    say: Callable[[str], None] = print
    run_command: Callable[[Sequence[str]], subprocess.CompletedProcess] = field(
        default=lambda command: run_detaching(command)
    )
    probes: Mapping[str, Callable[[Endpoint], bool]] = field(default_factory=lambda: PROBES)
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic
    poll_interval: float = 1.0

    def execute(self, steps: Iterable[Step]) -> None:
        for step in steps:
            if isinstance(step, Fail):
                raise SetupFailed(step.message)
            self.say(step.say)
            if isinstance(step, Run):
                self._run(step)
            else:
                self._await(step)

    def _run(self, step: Run) -> None:
        try:
            outcome = self.run_command(step.command)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise SetupFailed(f"{' '.join(step.command)} failed: {error}") from None
        if outcome.returncode != 0:
            output = (outcome.stderr or outcome.stdout or "").strip()[-800:]
            raise SetupFailed(
                f"{' '.join(step.command)} exited with {outcome.returncode}: {output}"
            )

    def _await(self, step: Await) -> None:
        probe = self.probes[step.probe]
        deadline = self.monotonic() + step.timeout
        while not probe(step.endpoint):
            if self.monotonic() >= deadline:
                raise SetupFailed(
                    f"{step.endpoint} did not answer within {step.timeout:.0f} s "
                    f"({step.say.removeprefix('waiting for ')}); see the server's log"
                )
            self.sleep(self.poll_interval)


# Starting the broker can be followed by enabling its plugin: a few rounds at most.
MAX_ROUNDS = 4


def bring_up(plan: Callable[[], list[Step]], runner: Runner) -> bool:
    """Plan from fresh probes, run the steps, plan again until nothing is left to do.

    Returns whether anything was done; raises :class:`SetupFailed`.
    """
    acted = False
    for _ in range(MAX_ROUNDS):
        steps = plan()
        if not steps:
            return acted
        runner.execute(steps)
        acted = True
    raise SetupFailed(f"still not ready after {MAX_ROUNDS} rounds of set-up: {plan()}")


def broker_plan(
    amqp_uri: str,
    management_url: str | None,
    probes: Mapping[str, Callable[[Endpoint], bool]] = PROBES,
    installed: Callable[[str], bool] = lambda name: shutil.which(name) is not None,
) -> Callable[[], list[Step]]:
    from shared.messaging.amqp_client import BrokerAddress

    address = BrokerAddress.from_uri(amqp_uri)
    amqp = Endpoint(address.host, address.port)
    parts = urlparse(management_url or f"http://{address.host}:15672")
    management = Endpoint(parts.hostname or address.host, parts.port or 15672)

    def plan() -> list[Step]:
        amqp_up = probes["amqp"](amqp)
        management_up = amqp_up and probes["management"](management)
        return plan_broker(amqp, management, installed, amqp_up, management_up)

    return plan


def postgresql_plan(
    server: Endpoint,
    probes: Mapping[str, Callable[[Endpoint], bool]] = PROBES,
    installed: Callable[[str], bool] = lambda name: shutil.which(name) is not None,
    clusters: Callable[[], list[Cluster]] = local_clusters,
) -> Callable[[], list[Step]]:
    def plan() -> list[Step]:
        ready = probes["postgresql"](server)
        return plan_postgresql(server, installed, ready, [] if ready else clusters())

    return plan


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------

app = typer.Typer(help="Set up the local broker and PostgreSQL for make run.", no_args_is_help=True)
ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", envvar="PARK_CONFIG", help="nameko config file")
]
DEFAULT_CONFIG = Path("config/development.yaml")


def _load(config: Path) -> dict[str, Any]:
    from shared.settings import load_config_file

    try:
        return load_config_file(config)
    except (OSError, ValueError, yaml.YAMLError) as error:
        _fail(f"cannot read the config {config}: {error}")


def _fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    raise typer.Exit(1)


@app.command()
def broker(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Make the config's broker and its management API answer (local ones only)."""
    from shared.settings import MessagingSettings

    settings = MessagingSettings.from_config(_load(config))
    try:
        plan = broker_plan(settings.amqp_uri, settings.management_url)
        acted = bring_up(plan, Runner())
    except (SetupFailed, ValueError) as error:
        _fail(str(error))
    print("RabbitMQ and its management API: up" + (" (set up just now)" if acted else ""))


@app.command()
def postgresql(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Make the PostgreSQL servers of the config's DATABASES answer (local ones only),
    and create the databases they name that do not exist yet."""
    databases = _load(config).get("DATABASES") or {}
    if not isinstance(databases, Mapping):
        _fail(f"{config}: DATABASES must map each service to a database URL")
    servers = postgresql_endpoints(databases)
    if not servers:
        print(f"{config} uses no PostgreSQL: nothing to set up")
        return
    for server in servers:
        try:
            acted = bring_up(postgresql_plan(server), Runner())
        except SetupFailed as error:
            _fail(str(error))
        print(f"PostgreSQL at {server}: up" + (" (started just now)" if acted else ""))
    try:
        ensure_databases([str(url) for url in databases.values()])
    except SetupFailed as error:
        _fail(str(error))


if __name__ == "__main__":
    app()
