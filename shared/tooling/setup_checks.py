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

The servers' commands are looked for on PATH, then where Debian's packages put them off
a normal user's PATH (:data:`SEARCH_DIRS`: ``/usr/sbin``, ``/usr/lib/rabbitmq/bin``,
``/usr/lib/postgresql/<newest>/bin``), and run by their full path. A system package's
``rabbitmq-server``, ``rabbitmq-plugins`` and ``pg_ctlcluster`` refuse anyone but root
and the server's own user (``rabbitmq``, ``postgres``): run by someone else, the set-up
does not try (and never runs ``sudo`` itself) but stops with the exact command to run,
``sudo /usr/sbin/rabbitmq-server -detached`` for instance, then ``make run`` again.

The decisions are pure functions (:func:`plan_broker`, :func:`plan_postgresql`: a URL,
what is installed and what the probes saw → a list of steps); :func:`bring_up` is the thin
runner that probes, asks the plan, runs its steps and probes again.

Exit codes of ``python -m shared.tooling.setup_checks broker|postgresql``: 0 ready
(perhaps after starting something), 1 not ready and not ours to fix (the message says
what to do), 2 usage.
"""

from __future__ import annotations

import glob
import ipaddress
import os
import re
import shlex
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


# ---------------------------------------------------------------------------
# Where the servers' commands are, and who may run them
# ---------------------------------------------------------------------------

_RABBITMQ_DIRS = ("/usr/sbin", "/usr/lib/rabbitmq/bin")
_PG_COMMON_DIRS = ("/usr/bin", "/usr/sbin")  # postgresql-common's pg_ctlcluster, pg_lsclusters
# Where a command may be when it is not on PATH (Debian puts the servers' tools in /usr/sbin
# and each PostgreSQL version's in /usr/lib/postgresql/<version>/bin); globs allowed.
SEARCH_DIRS: dict[str, tuple[str, ...]] = {
    "rabbitmq-server": _RABBITMQ_DIRS,
    "rabbitmq-plugins": _RABBITMQ_DIRS,
    "pg_ctlcluster": _PG_COMMON_DIRS,
    "pg_lsclusters": _PG_COMMON_DIRS,
    "pg_isready": ("/usr/lib/postgresql/*/bin", *_PG_COMMON_DIRS),
}
# The user a system package's server command accepts besides root.
SERVICE_USERS = {
    "rabbitmq-server": "rabbitmq",
    "rabbitmq-plugins": "rabbitmq",
    "pg_ctlcluster": "postgres",
}


def _version_key(path: str) -> tuple[tuple[int, ...], str]:
    """Sort key: the version numbers in a path, so ``15/bin`` sorts above ``9.6/bin``."""
    return tuple(int(n) for n in re.findall(r"\d+", path)), path


def locate(
    name: str,
    *,
    which: Callable[[str], str | None] = shutil.which,
    search: Mapping[str, Sequence[str]] = SEARCH_DIRS,
) -> str | None:
    """Where the command ``name`` is: on PATH, else in its :data:`SEARCH_DIRS` (the
    newest version's directory first); None if nowhere."""
    found = which(name)
    if found:
        return found
    for directory in search.get(name, ()):
        candidates = glob.glob(os.path.join(directory, name))
        for candidate in sorted(candidates, key=_version_key, reverse=True):
            if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
                return candidate
    return None


def _user_name() -> str:
    import pwd

    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:  # a uid with no passwd entry (some containers)
        return str(os.geteuid())


def may_run(
    path: str,
    service_user: str,
    *,
    euid: Callable[[], int] = os.geteuid,
    user: Callable[[], str] = _user_name,
    stat: Callable[[str], Any] = os.stat,
) -> bool:
    """Whether this process may run a server's command itself: as root, as the server's
    own user, or when the command is not root's (an install of the user's own, such as a
    tarball in the home directory). A root-owned command (a system package's) run by
    anyone else refuses (``Only root or rabbitmq should run rabbitmq-server``)."""
    if euid() == 0 or user() == service_user:
        return True
    try:
        return stat(path).st_uid != 0
    except OSError:
        return False


def _anyone(path: str, service_user: str) -> bool:
    return True


def _needs_sudo(what: str, command: Sequence[str], service_user: str) -> Fail:
    return Fail(
        f"{what}, which needs root or the {service_user} user, and this set-up runs as "
        f"neither (it does not use sudo itself). Run:\n\n    sudo {shlex.join(command)}\n\n"
        "then make run again."
    )


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
    locate: Callable[[str], str | None],
    amqp_up: bool,
    management_up: bool,
    may_run: Callable[[str, str], bool] = _anyone,
) -> list[Step]:
    """The next steps to a broker whose AMQP port and management API both answer.

    ``locate(name)`` is where a command is (None: not installed); ``amqp_up`` and
    ``management_up`` are what the probes saw just now; ``may_run(path, service_user)``
    whether this process may run a server's command itself (:func:`may_run`; default
    yes). An empty list: nothing to do.
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
        server = locate("rabbitmq-server")
        if not server:
            return [
                Fail(
                    f"RabbitMQ is not running at {amqp} and is not installed here "
                    "(no rabbitmq-server on PATH, in /usr/sbin or /usr/lib/rabbitmq/bin). "
                    "Install it (apt-get install rabbitmq-server; "
                    "https://www.rabbitmq.com/docs/download), or point AMQP_URI at a "
                    "running broker."
                )
            ]
        start = (server, "-detached")
        if not may_run(server, SERVICE_USERS["rabbitmq-server"]):
            return [
                _needs_sudo(
                    f"RabbitMQ is installed but not running at {amqp}; starting it",
                    start,
                    SERVICE_USERS["rabbitmq-server"],
                )
            ]
        return [
            Run(
                f"RabbitMQ is installed but not running at {amqp}: starting it "
                f"({shlex.join(start)})",
                start,
            ),
            Await(f"waiting for RabbitMQ on {amqp}", "amqp", amqp),
        ]
    plugins = locate("rabbitmq-plugins")
    if not plugins:
        return [
            Fail(
                f"the RabbitMQ management API does not answer at {management} and "
                "rabbitmq-plugins is not on PATH, in /usr/sbin or /usr/lib/rabbitmq/bin to "
                "enable it: run rabbitmq-plugins enable rabbitmq_management where RabbitMQ "
                "is installed."
            )
        ]
    enable = (plugins, "enable", MANAGEMENT_PLUGIN)
    if not may_run(plugins, SERVICE_USERS["rabbitmq-plugins"]):
        return [
            _needs_sudo(
                f"the RabbitMQ management plugin is off at {management}; enabling it",
                enable,
                SERVICE_USERS["rabbitmq-plugins"],
            )
        ]
    return [
        Run(
            f"the RabbitMQ management plugin is off at {management}: enabling it "
            f"({shlex.join(enable)})",
            enable,
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
    locate: Callable[[str], str | None],
    ready: bool,
    clusters: Sequence[Cluster],
    may_run: Callable[[str, str], bool] = _anyone,
) -> list[Step]:
    """The next steps to a PostgreSQL server at ``server`` that accepts connections.

    ``ready`` is what ``pg_isready`` (or a TCP probe) saw; ``clusters`` what
    ``pg_lsclusters`` lists on this machine (empty where it is not installed);
    ``locate`` and ``may_run`` as for :func:`plan_broker`.
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
    pg_ctlcluster = locate("pg_ctlcluster")
    if not pg_ctlcluster:
        return [
            Fail(
                f"PostgreSQL is not running at {server} and no pg_ctlcluster is on PATH, in "
                "/usr/bin or /usr/sbin to start it. Install it (apt-get install postgresql) "
                "or start your own server there, or run on SQLite: "
                "make run PARK_CONFIG=config/development.yaml."
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
        start = (pg_ctlcluster, "--skip-systemctl-redirect", cluster.version, cluster.name, "start")
        if not may_run(pg_ctlcluster, SERVICE_USERS["pg_ctlcluster"]):
            return [
                _needs_sudo(
                    f"PostgreSQL {cluster.version}/{cluster.name} is installed but not "
                    f"running at {server}; starting it",
                    start,
                    SERVICE_USERS["pg_ctlcluster"],
                )
            ]
        steps.append(
            Run(
                f"PostgreSQL {cluster.version}/{cluster.name} is installed but not running: "
                f"starting it (pg_ctlcluster {cluster.version} {cluster.name} start)",
                start,
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
    pg_isready = locate("pg_isready")
    if not pg_isready:
        return port_open(endpoint, timeout)
    try:
        outcome = subprocess.run(
            [pg_isready, "-q", "-h", endpoint.host, "-p", str(endpoint.port), "-t", "3"],
            capture_output=True,
            timeout=timeout + 5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return outcome.returncode == 0


def local_clusters() -> list[Cluster]:
    pg_lsclusters = locate("pg_lsclusters")
    if not pg_lsclusters:
        return []
    try:
        outcome = subprocess.run(
            [pg_lsclusters, "--no-header"], capture_output=True, text=True, timeout=30
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
    locate: Callable[[str], str | None] = locate,
    may_run: Callable[[str, str], bool] = may_run,
) -> Callable[[], list[Step]]:
    from shared.messaging.amqp_client import BrokerAddress

    address = BrokerAddress.from_uri(amqp_uri)
    amqp = Endpoint(address.host, address.port)
    parts = urlparse(management_url or f"http://{address.host}:15672")
    management = Endpoint(parts.hostname or address.host, parts.port or 15672)

    def plan() -> list[Step]:
        amqp_up = probes["amqp"](amqp)
        management_up = amqp_up and probes["management"](management)
        return plan_broker(amqp, management, locate, amqp_up, management_up, may_run)

    return plan


def postgresql_plan(
    server: Endpoint,
    probes: Mapping[str, Callable[[Endpoint], bool]] = PROBES,
    locate: Callable[[str], str | None] = locate,
    clusters: Callable[[], list[Cluster]] = local_clusters,
    may_run: Callable[[str, str], bool] = may_run,
) -> Callable[[], list[Step]]:
    def plan() -> list[Step]:
        ready = probes["postgresql"](server)
        return plan_postgresql(server, locate, ready, [] if ready else clusters(), may_run)

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
