"""``make test``: the whole suite as two pytest processes side by side, then the tests that
must have the machine to themselves.

Most tests wait: for a broker round trip, a container to start, a relay to poll. One
pytest process left a core idle almost half the time. Each test has its own vhost,
databases and broker users (``tests/support/fixtures.py``), so two processes never see
each other's messages or rows, and two shards run at once. Not pytest-xdist: its
execnet workers hang under eventlet's monkey patching (pytest-dev/pytest-xdist#71).

The fault tests (``tests/faults``) come last, alone: one restarts RabbitMQ, which every
other test would feel, and the kill -9 tests time recoveries.

``python -m tests.shards`` runs it all; with arguments it is one plain pytest run with
those arguments (``make test PYTEST_ARGS="-k relay"``). Each shard's output is printed
whole as soon as it ends (a line a minute says which are still running); a run stopped
from outside (a CI timeout's SIGTERM, Ctrl-C) prints what each unfinished shard had
written so far, so the log says where it stood. Exit status: 0 when every shard passed;
pytest's own status otherwise (1 failed tests, 5 no tests collected — a failure here,
never a pass).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NO_TESTS = 5  # pytest's exit status when it collected nothing
HEARTBEAT = 60.0  # seconds between "still running" lines


@dataclass
class Shard:
    name: str
    paths: list[str]
    process: subprocess.Popen | None = None
    log: Path | None = None
    started: float = 0.0
    seconds: float = 0.0
    status: int | None = None
    reported: bool = False

    def start(self, logs: Path) -> None:
        self.log = logs / f"{self.name}.log"
        command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *self.paths]
        self.started = time.monotonic()
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: see stop()
            )
        print(f"  shard {self.name}: pytest pid {self.process.pid}", flush=True)

    def stop(self) -> None:
        """Stop it and every process its tests started (services, brokers' clients)."""
        if self.process is None or self.process.poll() is not None:
            return
        group = os.getpgid(self.process.pid)
        os.killpg(group, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):  # then SIGKILL
            self.process.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)
        self.process.wait()

    def poll(self) -> bool:
        """True once it has ended (its status and time recorded)."""
        if self.status is None and (status := self.process.poll()) is not None:
            self.status, self.seconds = status, time.monotonic() - self.started
        return self.status is not None

    def report(self) -> None:
        """Print its output once: whole when it has ended, as far as it got when not."""
        if self.reported or self.log is None:
            return
        self.reported = True
        print(f"\n===== shard {self.name}: {' '.join(self.paths)}", flush=True)
        sys.stdout.buffer.write(self.log.read_bytes())
        sys.stdout.buffer.flush()
        if self.status is None:
            ended = f"stopped unfinished after {time.monotonic() - self.started:.0f} s"
        else:
            ended = f"exit {self.status} after {self.seconds:.0f} s"
        print(f"===== shard {self.name}: {ended}", flush=True)


def _services(kind: str) -> list[str]:
    return sorted(str(p.relative_to(ROOT)) for p in ROOT.glob(f"services/*/tests/{kind}"))


def shards() -> tuple[list[Shard], list[Shard]]:
    """(what runs side by side, what runs after, alone). Every test directory is in
    exactly one shard: ``tests/unit/test_shards.py`` checks it against the tree."""
    side_by_side = [
        # Balanced by their times here (pytest's own, 27 November): a 875-890 s, b 795-820 s;
        # the faults after them, 100-120 s.
        Shard("a", ["tests/unit", *_services("unit"), "tests/integration", "tests/bench"]),
        Shard("b", [*_services("service"), "tests/e2e", "tests/demo"]),
    ]
    alone = [Shard("faults", ["tests/faults"])]
    return side_by_side, alone


def wait(group: list[Shard]) -> None:
    """Until every shard of ``group`` has ended, each polled every time round, so each
    records its own end (``all()`` over a generator would stop at the first running one)
    and is printed as soon as it has."""
    last_beat = time.monotonic()
    while True:
        ended = [shard.poll() for shard in group]
        for shard, done in zip(group, ended, strict=True):
            if done:
                shard.report()
        if all(ended):
            return
        time.sleep(0.5)
        if time.monotonic() - last_beat >= HEARTBEAT:
            last_beat = time.monotonic()
            running = [s.name for s in group if s.status is None]
            print(f"  … shard {', '.join(running)} still running", flush=True)


def run(group: list[Shard], logs: Path) -> None:
    try:
        for shard in group:
            shard.start(logs)
        wait(group)
    finally:  # interrupted: no pytest is left behind, and what each had written is shown
        for shard in group:
            shard.stop()
        for shard in group:
            shard.report()


def verdict(ran: list[Shard]) -> int:
    failed = [s for s in ran if s.status != 0]
    for shard in failed:
        why = "collected no tests" if shard.status == NO_TESTS else f"exit {shard.status}"
        print(f"shard {shard.name} FAILED: {why}", file=sys.stderr)
    if not failed:
        times = ", ".join(f"{s.name} {s.seconds:.0f} s" for s in ran)
        print(f"every shard passed ({times})")
        return 0
    return next(s.status for s in failed)


def _exit_on_sigterm(signum, _frame) -> None:
    sys.exit(128 + signum)  # SystemExit unwinds through run(), which stops the shards


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGTERM, _exit_on_sigterm)  # a CI timeout leaves no pytest behind
    if argv:
        status = subprocess.call([sys.executable, "-m", "pytest", *argv], cwd=ROOT)
        if status == NO_TESTS:
            print("pytest collected no tests: a failure, not a pass", file=sys.stderr)
        return status
    side_by_side, alone = shards()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="park-test-shards-") as logs:
        for group in (side_by_side, alone):
            print(f"running shards {', '.join(s.name for s in group)} …", flush=True)
            run(group, Path(logs))
    status = verdict([*side_by_side, *alone])
    print(f"the whole suite took {time.monotonic() - started:.0f} s")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
