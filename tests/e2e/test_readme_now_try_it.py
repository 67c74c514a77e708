"""README.md's "Now try it" is true: its commands, run in order as a new user would, with
the four services running as ``make run`` runs them (``nameko run`` processes, each as its
own broker user, SQLite files, ``config/development.yaml``), do what the comments next to
them say (``# expect: …``). The test reads the commands from the README itself, so an
edit of the README is what gets tested.

Only the places are the test's own (the rest is the development config's defaults): its
vhost, its SQLite files and free metrics ports, given as the config's environment
variables, as a user of a second park would.
"""

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import nameko
import pytest

from clients.publisher import validate_payload
from shared.messaging.amqp_client import BrokerAddress
from shared.messaging.declare import declare_topology
from shared.messaging.identities import amqp_uri_as, dev_password
from shared.messaging.management import ManagementClient
from shared.messaging.topology import park_topology
from shared.tooling.migrate import upgrade

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SERVICES = ("onboarding", "ticketing", "billing", "buyback")
STEP_TIMEOUT = 90.0  # one step through several services, on two cores shared with others


def now_try_it() -> str:
    """The shell block of the README's "Now try it" section."""
    text = (ROOT / "README.md").read_text("utf-8")
    section = text.split("\n## Now try it\n", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```bash\n(.*?)```", section, re.S).group(1)


def steps(block: str) -> list[tuple[str, str | None]]:
    """(command, what its ``# expect:`` comment says) in order; a ``for … done`` is one."""
    found, loop = [], []
    for line in block.splitlines():
        if loop or line.startswith("for "):
            loop.append(line)
            if line.strip() == "done":
                found.append(("\n".join(loop), None))
                loop = []
            continue
        command, _, comment = line.partition("  #")
        expect = comment.split("expect:", 1)[1].strip() if "expect:" in comment else None
        if command.strip():
            found.append((command.strip(), expect))
    return found


STEPS = steps(now_try_it())


def expected_types(expect: str) -> dict[str, int]:
    """``review_decision_recorded ×4, enterprise_admitted`` → {type: count}."""
    wanted = {}
    for item in expect.split(","):
        name, _, times = item.strip().partition(" ×")
        wanted[name] = int(times or 1)
    return wanted


# -- what the block names exists (no services needed) -----------------------------------


def test_the_readme_has_the_steps_this_test_runs():
    commands = [command for command, _ in STEPS]
    assert commands[0].startswith("CID=")
    assert any("park publish portal application_submitted" in c for c in commands)
    assert sum("park trace $CID" in c for c in commands) >= 3
    assert any("park billing" in c for c in commands)
    assert all(expect for command, expect in STEPS if "park trace" in command)


def test_every_file_the_block_publishes_exists_and_is_valid():
    block = now_try_it()
    departments = re.search(r"for dept in ([^;]+);", block).group(1).split()
    published = re.findall(r"park publish (\w+) (\w+) @(\S+)", block)
    assert published
    for source, type_, path in published:
        names = [path.replace("$dept", d) for d in departments] if "$dept" in path else [path]
        for name in names:
            file = ROOT / name
            assert file.is_file(), name
            validate_payload(source, type_, json.loads(file.read_text("utf-8")))


def test_every_park_command_of_the_block_exists():
    for subcommand in set(
        re.findall(r"\.venv/bin/park ((?:\w[\w-]*)(?: [a-z][\w-]*)?)", now_try_it())
    ):
        words = subcommand.split()
        result = subprocess.run(
            [str(BIN / "python"), "-m", "shared.tooling.cli", *words, "--help"],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
        )
        if result.returncode != 0 and len(words) == 2:  # "trace $CID": one word is the command
            result = subprocess.run(
                [str(BIN / "python"), "-m", "shared.tooling.cli", words[0], "--help"],
                capture_output=True,
                text=True,
                timeout=120,
                cwd=ROOT,
            )
        assert result.returncode == 0, f"park {subcommand}: {result.stderr}"


# -- the block, run against the running services -----------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RunningPark:
    """``make run``'s services as processes, on this test's vhost and SQLite files."""

    def __init__(self, amqp_uri: str, var: Path):
        self.amqp_uri = amqp_uri
        address = BrokerAddress.from_uri(amqp_uri)
        self.management = ManagementClient.for_broker(None, address)
        self.vhost = address.vhost
        self.env = dict(os.environ, PARK_CONFIG="config/development.yaml", AMQP_URI=amqp_uri)
        self.env["PYTHONWARNINGS"] = "ignore::Warning:nameko.extensions"
        for service in SERVICES:
            upper = service.upper()
            self.env[f"{upper}_DATABASE_URL"] = f"sqlite:///{var / service}.sqlite"
            self.env[f"{upper}_METRICS_PORT"] = str(_free_port())
            self.env[f"{upper}_AMQP_URI"] = amqp_uri_as(amqp_uri, service, dev_password(service))
        self.processes: dict[str, subprocess.Popen] = {}
        self.logs = var

    def set_up(self) -> None:
        # make run's steps before the services: declare, migrate, load the parks.
        declare_topology(park_topology(), self.amqp_uri)
        for service in SERVICES:
            upgrade(
                self.env[f"{service.upper()}_DATABASE_URL"],
                ROOT / "services" / service / "migrations",
            )
        self.shell(".venv/bin/park parks load", check=True)

    def start(self) -> None:
        for service in SERVICES:
            env = dict(self.env, AMQP_URI=self.env[f"{service.upper()}_AMQP_URI"])
            log = (self.logs / f"{service}.log").open("wb")
            self.processes[service] = subprocess.Popen(
                [
                    str(BIN / "nameko"),
                    "run",
                    "--config",
                    "config/development.yaml",
                    f"services.{service}.service",
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        # Ready when each service consumes the queues of this flow.
        queues = [
            "onboarding.portal.application_submitted",
            "onboarding.gov.review_decided",
            "billing.onboarding.units_allocated",
            "billing.bank.payment_received",
            "ticketing.onboarding.enterprise_admitted",
            "buyback.onboarding.units_allocated",
        ]
        deadline = time.monotonic() + 120
        while True:
            waiting = [q for q in queues if not self._consumed(q)]
            if not waiting:
                return
            for service, process in self.processes.items():
                if process.poll() is not None:
                    raise AssertionError(f"{service} exited: {self.log(service)}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no consumer on {waiting} after 120 s")
            time.sleep(1)

    def _consumed(self, queue: str) -> bool:
        found = self.management.queue_or_none(self.vhost, queue)
        return bool(found and found.get("consumers"))

    def log(self, service: str) -> str:
        return (self.logs / f"{service}.log").read_text("utf-8", errors="replace")[-3000:]

    def shell(self, command: str, *, check: bool = False) -> subprocess.CompletedProcess:
        result = subprocess.run(
            ["bash", "-e", "-c", command],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if check:
            assert result.returncode == 0, f"{command}:\n{result.stdout}\n{result.stderr}"
        return result

    def stop(self) -> None:
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture
def running_park(rabbit_config, tmp_path):
    park = RunningPark(nameko.config["AMQP_URI"], tmp_path)
    park.set_up()
    try:
        park.start()
        yield park
    finally:
        park.stop()


def test_the_readme_commands_do_what_the_readme_says(running_park):
    for command, expect in STEPS:
        if command.startswith("CID="):
            running_park.env["CID"] = running_park.shell(
                f"{command}; echo $CID", check=True
            ).stdout.strip()
            continue
        if not expect:
            running_park.shell(command, check=True)
            continue
        deadline = time.monotonic() + STEP_TIMEOUT
        while True:
            result = running_park.shell(command)
            problem = _unmet(command, expect, result)
            if problem is None:
                break
            if time.monotonic() > deadline:
                logs = "\n".join(f"--- {s}\n{running_park.log(s)}" for s in SERVICES)
                pytest.fail(f"{command}: {problem}\n{result.stdout}\n{result.stderr}\n{logs}")
            time.sleep(1)


def _unmet(command: str, expect: str, result: subprocess.CompletedProcess) -> str | None:
    """Why ``result`` does not show what ``expect`` says yet, or None if it does."""
    if "park trace" in command:
        rows = [line.split("│") for line in result.stdout.splitlines() if line.startswith("│")]
        seen = [cells[3].strip() for cells in rows if len(cells) > 4]
        missing = {
            type_: count
            for type_, count in expected_types(expect).items()
            if seen.count(type_) < count
        }
        return f"missing {missing} (seen {seen})" if missing else None
    if "trial-balance" in command:
        amount = re.search(r"receivables (\d+)", expect).group(1)
        return None if f'"receivables": {amount}' in result.stdout else f"receivables ≠ {amount}"
    raise AssertionError(f"this test does not know how to check: {expect}")
