"""``make run``'s set-up (shared/tooling/setup_checks.py): the plans as pure functions, the
runner with fake collaborators, and the command for real where that is safe — it never
stops or starts the shared broker or PostgreSQL (others' tests use them)."""

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest

from shared.tooling.setup_checks import (
    Await,
    Cluster,
    Endpoint,
    Fail,
    Run,
    Runner,
    SetupFailed,
    bring_up,
    broker_plan,
    database_name,
    is_local,
    locate,
    may_run,
    missing_databases,
    parse_pg_lsclusters,
    plan_broker,
    plan_postgresql,
    postgresql_endpoints,
)

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
LOCAL_AMQP = Endpoint("127.0.0.1", 5672)
LOCAL_MANAGEMENT = Endpoint("127.0.0.1", 15672)
# locate(name): where a command is (its path), None if nowhere. "On PATH" keeps the name.
EVERYTHING = lambda name: name  # noqa: E731
NOTHING = lambda name: None  # noqa: E731
ROOT_OR_OWNER = lambda path, service_user: True  # noqa: E731
SOMEONE_ELSE = lambda path, service_user: False  # noqa: E731


def commands(steps):
    return [step.command for step in steps if isinstance(step, Run)]


# --- where a server is -------------------------------------------------------


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "localhost", "LOCALHOST", "::1", "[::1]", "127.0.1.1"]
)
def test_loopback_names_are_local(host):
    assert is_local(host)


@pytest.mark.parametrize("host", ["10.0.0.5", "rabbit.example.com", "192.0.2.1", "", "0.0.0.0"])
def test_other_hosts_are_not_local(host):
    assert not is_local(host)


# --- the broker's plan -------------------------------------------------------


def test_a_broker_that_answers_needs_nothing():
    assert plan_broker(LOCAL_AMQP, LOCAL_MANAGEMENT, EVERYTHING, True, True) == []


def test_a_local_installed_broker_that_is_not_running_is_started_and_awaited():
    steps = plan_broker(LOCAL_AMQP, LOCAL_MANAGEMENT, EVERYTHING, False, False)

    assert commands(steps) == [("rabbitmq-server", "-detached")]
    assert isinstance(steps[-1], Await) and steps[-1].probe == "amqp"
    assert "installed but not running" in steps[0].say


def test_a_local_broker_without_its_management_plugin_gets_it_enabled_and_awaited():
    steps = plan_broker(LOCAL_AMQP, LOCAL_MANAGEMENT, EVERYTHING, True, False)

    assert commands(steps) == [("rabbitmq-plugins", "enable", "rabbitmq_management")]
    assert isinstance(steps[-1], Await) and steps[-1].probe == "management"
    assert steps[-1].endpoint == LOCAL_MANAGEMENT


def test_a_local_broker_that_is_not_installed_is_an_error_saying_how_to_install_it():
    installed = lambda name: None if name == "rabbitmq-server" else name  # noqa: E731

    [step] = plan_broker(LOCAL_AMQP, LOCAL_MANAGEMENT, installed, False, False)

    assert isinstance(step, Fail)
    assert "not installed" in step.message and "apt-get install rabbitmq-server" in step.message


def test_a_remote_broker_that_is_down_is_an_error_and_never_started():
    remote = Endpoint("rabbit.example.com", 5672)

    [step] = plan_broker(remote, Endpoint("rabbit.example.com", 15672), EVERYTHING, False, False)

    assert isinstance(step, Fail)
    assert "rabbit.example.com:5672" in step.message and "not this machine" in step.message


def test_a_remote_management_api_that_is_down_is_an_error_even_when_amqp_is_local():
    [step] = plan_broker(LOCAL_AMQP, Endpoint("10.1.2.3", 15672), EVERYTHING, True, False)

    assert isinstance(step, Fail) and "10.1.2.3:15672" in step.message


def test_a_local_broker_without_rabbitmq_plugins_on_path_is_an_error():
    installed = lambda name: None if name == "rabbitmq-plugins" else name  # noqa: E731

    [step] = plan_broker(LOCAL_AMQP, LOCAL_MANAGEMENT, installed, True, False)

    assert isinstance(step, Fail) and "rabbitmq-plugins" in step.message


def test_the_broker_is_started_with_the_command_where_it_was_found():
    found = {"rabbitmq-server": "/usr/sbin/rabbitmq-server"}.get

    steps = plan_broker(LOCAL_AMQP, LOCAL_MANAGEMENT, found, False, False, ROOT_OR_OWNER)

    assert commands(steps) == [("/usr/sbin/rabbitmq-server", "-detached")]


def test_a_broker_this_user_may_not_start_is_an_error_giving_the_sudo_command():
    found = {"rabbitmq-server": "/usr/sbin/rabbitmq-server"}.get
    asked = []

    def may(path, service_user):
        asked.append((path, service_user))
        return False

    [step] = plan_broker(LOCAL_AMQP, LOCAL_MANAGEMENT, found, False, False, may)

    assert isinstance(step, Fail)
    assert "sudo /usr/sbin/rabbitmq-server -detached" in step.message
    assert "root or the rabbitmq user" in step.message
    assert asked == [("/usr/sbin/rabbitmq-server", "rabbitmq")]


def test_a_plugin_this_user_may_not_enable_is_an_error_giving_the_sudo_command():
    found = {"rabbitmq-plugins": "/usr/lib/rabbitmq/bin/rabbitmq-plugins"}.get

    [step] = plan_broker(LOCAL_AMQP, LOCAL_MANAGEMENT, found, True, False, SOMEONE_ELSE)

    assert isinstance(step, Fail)
    assert "sudo /usr/lib/rabbitmq/bin/rabbitmq-plugins enable rabbitmq_management" in step.message


# --- finding the servers' commands off PATH ------------------------------------


def executable(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return str(path)


def test_a_command_on_path_is_found_there_first(tmp_path):
    executable(tmp_path / "sbin" / "rabbitmq-server")
    search = {"rabbitmq-server": (str(tmp_path / "sbin"),)}

    found = locate("rabbitmq-server", which=lambda name: "/opt/bin/rabbitmq-server", search=search)

    assert found == "/opt/bin/rabbitmq-server"


def test_a_command_off_path_is_found_in_the_places_debian_puts_it(tmp_path):
    sbin = executable(tmp_path / "usr" / "sbin" / "rabbitmq-plugins")
    search = {"rabbitmq-plugins": (str(tmp_path / "usr" / "sbin"), str(tmp_path / "lib"))}

    assert locate("rabbitmq-plugins", which=lambda name: None, search=search) == sbin
    assert locate("rabbitmq-server", which=lambda name: None, search=search) is None


def test_the_newest_postgresql_versions_command_is_found(tmp_path):
    for version in ("9.6", "15", "13"):
        executable(tmp_path / "postgresql" / version / "bin" / "pg_isready")
    search = {"pg_isready": (str(tmp_path / "postgresql" / "*" / "bin"),)}

    found = locate("pg_isready", which=lambda name: None, search=search)

    assert found == str(tmp_path / "postgresql" / "15" / "bin" / "pg_isready")


def test_a_file_that_is_not_executable_is_not_a_command(tmp_path):
    (tmp_path / "rabbitmq-server").write_text("not a program")
    search = {"rabbitmq-server": (str(tmp_path),)}

    assert locate("rabbitmq-server", which=lambda name: None, search=search) is None


def test_the_default_search_covers_usr_sbin_rabbitmq_and_postgresql_bin_dirs():
    from shared.tooling.setup_checks import SEARCH_DIRS

    assert "/usr/sbin" in SEARCH_DIRS["rabbitmq-server"]
    assert "/usr/lib/rabbitmq/bin" in SEARCH_DIRS["rabbitmq-plugins"]
    assert "/usr/sbin" in SEARCH_DIRS["pg_ctlcluster"]
    assert "/usr/lib/postgresql/*/bin" in SEARCH_DIRS["pg_isready"]


class Stat:
    def __init__(self, uid):
        self.st_uid = uid


@pytest.mark.parametrize(
    ("euid", "user", "owner", "allowed"),
    [
        (0, "root", 0, True),  # root
        (107, "rabbitmq", 0, True),  # the service's own user
        (1000, "alice", 0, False),  # a system package's command, someone else
        (1000, "alice", 1000, True),  # alice's own install (a tarball in her home)
    ],
)
def test_who_may_run_a_servers_command(euid, user, owner, allowed):
    assert (
        may_run(
            "/usr/sbin/rabbitmq-server",
            "rabbitmq",
            euid=lambda: euid,
            user=lambda: user,
            stat=lambda path: Stat(owner),
        )
        is allowed
    )


# --- PostgreSQL's plan -------------------------------------------------------

LOCAL_PG = Endpoint("127.0.0.1", 5432)
STOPPED_15 = Cluster("15", "main", 5432, online=False)


def test_a_ready_postgresql_needs_nothing():
    assert plan_postgresql(LOCAL_PG, EVERYTHING, True, [STOPPED_15]) == []


def test_a_local_stopped_cluster_on_the_port_is_started_with_pg_ctlcluster_and_awaited():
    steps = plan_postgresql(LOCAL_PG, EVERYTHING, False, [STOPPED_15])

    assert commands(steps) == [
        ("pg_ctlcluster", "--skip-systemctl-redirect", "15", "main", "start")
    ]
    assert isinstance(steps[-1], Await) and steps[-1].probe == "postgresql"


def test_a_cluster_this_user_may_not_start_is_an_error_giving_the_sudo_command():
    found = {"pg_ctlcluster": "/usr/bin/pg_ctlcluster"}.get

    [step] = plan_postgresql(LOCAL_PG, found, False, [STOPPED_15], SOMEONE_ELSE)

    assert isinstance(step, Fail)
    assert "sudo /usr/bin/pg_ctlcluster --skip-systemctl-redirect 15 main start" in step.message
    assert "root or the postgres user" in step.message


def test_an_online_cluster_is_awaited_whoever_runs_the_set_up():
    online = Cluster("15", "main", 5432, True)

    steps = plan_postgresql(LOCAL_PG, EVERYTHING, False, [online], SOMEONE_ELSE)

    assert [type(step) for step in steps] == [Await]


def test_the_cluster_started_is_the_one_on_the_configured_port():
    clusters = [STOPPED_15, Cluster("16", "other", 5433, online=False)]

    steps = plan_postgresql(Endpoint("localhost", 5433), EVERYTHING, False, clusters)

    assert commands(steps) == [
        ("pg_ctlcluster", "--skip-systemctl-redirect", "16", "other", "start")
    ]


def test_an_online_cluster_that_is_not_ready_yet_is_only_awaited():
    steps = plan_postgresql(LOCAL_PG, EVERYTHING, False, [Cluster("15", "main", 5432, True)])

    assert commands(steps) == [] and [type(step) for step in steps] == [Await]


def test_a_remote_postgresql_that_is_down_is_an_error_and_never_started():
    [step] = plan_postgresql(Endpoint("db.example.com", 5432), EVERYTHING, False, [STOPPED_15])

    assert isinstance(step, Fail) and "db.example.com:5432" in step.message


def test_a_local_postgresql_without_pg_ctlcluster_is_an_error_offering_sqlite():
    [step] = plan_postgresql(LOCAL_PG, NOTHING, False, [])

    assert isinstance(step, Fail)
    assert "apt-get install postgresql" in step.message and "development.yaml" in step.message


def test_no_cluster_on_the_configured_port_is_an_error_listing_the_clusters():
    [step] = plan_postgresql(Endpoint("127.0.0.1", 5999), EVERYTHING, False, [STOPPED_15])

    assert isinstance(step, Fail)
    assert "port 5999" in step.message and "15/main on 5432" in step.message


def test_pg_lsclusters_lines_are_read_and_junk_skipped():
    text = (
        "15  main    5432 online postgres /var/lib/postgresql/15/main /var/log/x.log\n"
        "16  spare   5433 down   postgres /var/lib/postgresql/16/spare /var/log/y.log\n"
        "Warning: something odd\n\n"
    )

    assert parse_pg_lsclusters(text) == [
        Cluster("15", "main", 5432, True),
        Cluster("16", "spare", 5433, False),
    ]


def test_the_postgresql_servers_of_a_config_are_its_postgresql_urls_once_each():
    databases = {
        "onboarding": "postgresql://postgres@127.0.0.1:5432/park_onboarding",
        "ticketing": "postgresql+psycopg2://postgres@127.0.0.1/park_ticketing",
        "billing": "sqlite:///var/billing.sqlite",
        "buyback": "postgres://u:p@db.example.com:6543/park_buyback",
    }

    assert postgresql_endpoints(databases) == [
        Endpoint("127.0.0.1", 5432),
        Endpoint("db.example.com", 6543),
    ]
    assert postgresql_endpoints({"a": "sqlite:///x.sqlite"}) == []
    assert postgresql_endpoints(None) == []


def test_missing_databases_are_the_named_ones_the_server_lacks():
    urls = [
        "postgresql://postgres@127.0.0.1:5432/park_onboarding",
        "postgresql://postgres@127.0.0.1:5432/park_billing",
        "postgresql://postgres@127.0.0.1:5432/park_billing",
        "sqlite:///var/x.sqlite",
    ]

    assert missing_databases(urls, ["postgres", "park_onboarding"]) == ["park_billing"]
    assert database_name("sqlite:///var/x.sqlite") is None
    assert database_name("postgresql://h/") is None


# --- the runner --------------------------------------------------------------


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def fake_runner(probes, ran, said, returncode=0, clock=None):
    clock = clock or FakeClock()

    def run_command(command):
        ran.append(tuple(command))
        return subprocess.CompletedProcess(command, returncode, "some output", "")

    return Runner(
        say=said.append,
        run_command=run_command,
        probes=probes,
        sleep=clock.sleep,
        monotonic=clock.monotonic,
    )


def test_a_stopped_broker_without_its_plugin_is_started_then_its_plugin_enabled():
    state = {"amqp": False, "management": False}
    ran, said = [], []

    def run_command(command):
        ran.append(tuple(command))
        if command[0] == "rabbitmq-server":
            state["amqp"] = True
        else:
            state["management"] = True
        return subprocess.CompletedProcess(command, 0, "", "")

    probes = {"amqp": lambda e: state["amqp"], "management": lambda e: state["management"]}
    runner = fake_runner(probes, [], said)
    runner.run_command = run_command
    plan = broker_plan("pyamqp://guest:guest@localhost:5672/", None, probes, EVERYTHING)

    assert bring_up(plan, runner) is True
    assert ran == [
        ("rabbitmq-server", "-detached"),
        ("rabbitmq-plugins", "enable", "rabbitmq_management"),
    ]
    assert any("starting it" in line for line in said)
    assert any("enabling it" in line for line in said)


def test_a_ready_broker_is_left_alone():
    ran, said = [], []
    probes = {"amqp": lambda e: True, "management": lambda e: True}
    plan = broker_plan("pyamqp://guest:guest@localhost:5672/", None, probes, EVERYTHING)

    assert bring_up(plan, fake_runner(probes, ran, said)) is False
    assert ran == [] and said == []


def test_waiting_gives_up_at_its_timeout_naming_the_server():
    clock = FakeClock()
    runner = fake_runner({"amqp": lambda e: False}, [], [], clock=clock)

    with pytest.raises(SetupFailed, match=re.escape("127.0.0.1:5672 did not answer within 90 s")):
        runner.execute([Await("waiting for RabbitMQ", "amqp", LOCAL_AMQP, timeout=90)])
    assert 90 <= clock.now <= 92


def test_a_command_that_fails_stops_the_set_up_with_its_output():
    runner = fake_runner({}, [], [], returncode=2)

    with pytest.raises(SetupFailed, match="rabbitmq-server -detached exited with 2: some output"):
        runner.execute([Run("starting", ("rabbitmq-server", "-detached"))])


def test_a_plan_that_never_settles_is_given_up_after_a_few_rounds():
    ran = []
    probes = {"amqp": lambda e: True, "management": lambda e: False}  # never comes up
    plan = broker_plan("pyamqp://guest:guest@localhost:5672/", None, probes, EVERYTHING)
    runner = fake_runner(probes, ran, [])
    runner.execute = lambda steps: ran.append(steps)  # the awaits would time out anyway

    with pytest.raises(SetupFailed, match="still not ready"):
        bring_up(plan, runner)
    assert len(ran) == 4


# --- the command, for real where safe -----------------------------------------


def setup_checks(*args, **env):
    return subprocess.run(
        [PYTHON, "-m", "shared.tooling.setup_checks", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_broker_check_on_the_running_broker_with_its_plugin_changes_nothing():
    outcome = setup_checks("broker", PARK_CONFIG="config/development.yaml")

    assert outcome.returncode == 0, outcome.stderr
    assert outcome.stdout.strip() == "RabbitMQ and its management API: up"


def test_the_broker_check_on_a_remote_broker_that_is_down_says_what_to_do_and_exits_1():
    outcome = setup_checks(
        "broker",
        PARK_CONFIG="config/development.yaml",
        AMQP_URI="pyamqp://guest:guest@rabbit.invalid:5672/",
        RABBIT_MANAGEMENT_URL="http://rabbit.invalid:15672",
    )

    assert outcome.returncode == 1
    assert "rabbit.invalid:5672, which is not this machine" in outcome.stderr
    assert "point AMQP_URI" in outcome.stderr


def test_the_database_check_of_a_sqlite_config_does_nothing():
    outcome = setup_checks("postgresql", PARK_CONFIG="config/development.yaml")

    assert outcome.returncode == 0, outcome.stderr
    assert "uses no PostgreSQL: nothing to set up" in outcome.stdout


def test_the_database_check_on_a_remote_postgresql_that_is_down_exits_1():
    outcome = setup_checks(
        "postgresql",
        PARK_CONFIG="config/postgresql.yaml",
        ONBOARDING_DATABASE_URL="postgresql://postgres@db.invalid:5432/park_onboarding",
    )

    assert outcome.returncode == 1
    assert "db.invalid:5432, which is not this machine" in outcome.stderr


def test_the_database_check_with_no_local_cluster_on_the_port_exits_1():
    outcome = setup_checks(
        "postgresql",
        PARK_CONFIG="config/postgresql.yaml",
        ONBOARDING_DATABASE_URL="postgresql://postgres@127.0.0.1:5999/park_onboarding",
    )

    assert outcome.returncode == 1
    assert "no cluster here listens on port 5999" in outcome.stderr


@pytest.fixture
def fresh_database_names():
    import psycopg2

    names = [f"setup_check_{uuid.uuid4().hex[:10]}_{n}" for n in range(2)]
    yield names
    connection = psycopg2.connect("postgresql://postgres@127.0.0.1:5432/postgres")
    connection.autocommit = True
    with connection.cursor() as cursor:
        for name in names:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
    connection.close()


def test_the_database_check_creates_the_missing_databases_once(fresh_database_names, tmp_path):
    first, second = fresh_database_names
    config = tmp_path / "config.yaml"
    config.write_text(
        "DATABASES:\n"
        f"  onboarding: postgresql://postgres@127.0.0.1:5432/{first}\n"
        f"  billing: postgresql://postgres@127.0.0.1:5432/{second}\n"
        "  buyback: sqlite:///var/buyback.sqlite\n"
    )

    made = setup_checks("postgresql", "--config", str(config))
    again = setup_checks("postgresql", "--config", str(config))

    assert made.returncode == 0, made.stderr
    assert f"creating PostgreSQL database {first}" in made.stdout
    assert f"creating PostgreSQL database {second}" in made.stdout
    assert again.returncode == 0, again.stderr
    assert "creating" not in again.stdout


# --- make run's first screen --------------------------------------------------


def run_recipe_warnings_filter() -> str:
    """The PYTHONWARNINGS that the Makefile's ``run`` recipe gives honcho."""
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^run:.*\n((?:\t.*\n)+)", makefile, re.MULTILINE)
    assert recipe, "no run target in the Makefile"
    found = re.search(r"PYTHONWARNINGS=(\S+)", recipe.group(1))
    assert found, "the run recipe sets no PYTHONWARNINGS"
    return found.group(1)


def first_lines_of_a_service(pythonwarnings: str | None, count: int = 12) -> list[str]:
    """Start the buyback service as ``make run`` does (honcho, the Procfile's line) against
    a broker port where nothing listens, and read its first lines."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    env.update(
        BUYBACK_AMQP_URI="pyamqp://buyback:dev-buyback@127.0.0.1:1/",
        BUYBACK_METRICS_PORT="0",
        PARK_CONFIG="config/development.yaml",
    )
    if pythonwarnings is not None:
        env["PYTHONWARNINGS"] = pythonwarnings
    process = subprocess.Popen(
        [str(Path(PYTHON).parent / "honcho"), "start", "--procfile", "Procfile", "buyback"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    # A process that went quiet would block readline: end it at the deadline (EOF then).
    watchdog = threading.Timer(60, os.killpg, (process.pid, signal.SIGKILL))
    watchdog.start()
    try:
        while len(lines) < count:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
    finally:
        watchdog.cancel()
        with contextlib.suppress(ProcessLookupError):  # gone already
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return lines


def test_make_runs_services_start_without_the_eventlet_deprecation_warning():
    lines = first_lines_of_a_service(run_recipe_warnings_filter())

    assert any("starting services: buyback" in line for line in lines), lines
    assert not any("Eventlet" in line for line in lines), "".join(lines)


def test_without_the_filter_the_eventlet_warning_is_there_to_hide():
    # The control: if eventlet stops warning, the test above proves nothing and says so here.
    lines = first_lines_of_a_service(None)

    assert any("EventletDeprecationWarning" in line for line in lines), "".join(lines)
