"""``make test``'s shards (tests/shards.py): no test left out, none run twice, and a shard
that collected nothing fails the run."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests import shards
from tests.shards import NO_TESTS, ROOT, Shard


def _every_shard() -> list[Shard]:
    side_by_side, alone = shards.shards()
    return [*side_by_side, *alone]


def test_every_test_file_is_in_exactly_one_shard():
    paths = [Path(p) for shard in _every_shard() for p in shard.paths]
    test_files = [
        f.relative_to(ROOT)
        for where in ("tests", "services")
        for f in (ROOT / where).rglob("test_*.py")
        if ".venv" not in f.parts
    ]
    assert len(test_files) > 100
    for test_file in test_files:
        holders = [p for p in paths if test_file.is_relative_to(p)]
        assert len(holders) == 1, (test_file, holders)


def test_every_shard_path_exists_and_holds_tests():
    for shard in _every_shard():
        for path in shard.paths:
            assert any((ROOT / path).rglob("test_*.py")), (shard.name, path)


def test_the_broker_restarting_fault_tests_run_alone():
    side_by_side, alone = shards.shards()
    assert [s.paths for s in alone] == [["tests/faults"]]
    assert all("tests/faults" not in s.paths for s in side_by_side)


def _ended(name: str, status: int) -> Shard:
    shard = Shard(name, [f"tests/{name}"])
    shard.status, shard.seconds = status, 1.0
    return shard


def test_the_run_passes_only_when_every_shard_passed(capsys):
    assert shards.verdict([_ended("a", 0), _ended("b", 0)]) == 0
    assert "every shard passed" in capsys.readouterr().out
    assert shards.verdict([_ended("a", 0), _ended("b", 1)]) == 1
    assert "shard b FAILED: exit 1" in capsys.readouterr().err


def test_a_shard_that_collected_nothing_fails_the_run(capsys):
    assert shards.verdict([_ended("a", 0), _ended("b", NO_TESTS)]) == NO_TESTS
    assert "shard b FAILED: collected no tests" in capsys.readouterr().err


DRIVER = """
import sys
from tests import shards
sleeping = shards.Shard("sleeper", [sys.argv[1]])
shards.shards = lambda: ([sleeping], [])
sys.exit(shards.main([]))
"""

SLEEPING_TEST = """
import os, pathlib, subprocess, time
def test_sleeps():
    child = subprocess.Popen(["sleep", "300"])
    written = pathlib.Path({marker!r} + ".part")
    written.write_text(str(child.pid))
    os.replace(written, {marker!r})  # the marker appears whole, never half-written
    time.sleep(300)
"""


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"  # a zombie is gone too


def test_a_terminated_run_leaves_no_pytest_and_no_process_of_its_tests(tmp_path):
    """A CI timeout sends SIGTERM: the shards' pytest processes and whatever their tests
    started (here a ``sleep``) are stopped with it."""
    marker = tmp_path / "child.pid"
    (tmp_path / "test_sleeping.py").write_text(SLEEPING_TEST.format(marker=str(marker)))
    runner = subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(tmp_path / "test_sleeping.py")],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = runner.stdout.readline()
        while "pytest pid" not in line:
            assert line, "the runner ended without starting its shard"
            line = runner.stdout.readline()
        pytest_pid = int(line.rsplit(" ", 1)[1])
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert time.monotonic() < deadline, "the sleeping test never started"
            time.sleep(0.1)
        sleep_pid = int(marker.read_text())
        runner.send_signal(signal.SIGTERM)
        assert runner.wait(timeout=30) == 128 + signal.SIGTERM
        # and the log says where it stood: the unfinished shard's output so far
        rest = runner.stdout.read()
        assert "===== shard sleeper: " in rest
        assert "===== shard sleeper: stopped unfinished after" in rest
    finally:
        runner.kill()
        runner.wait()
    assert _gone(pytest_pid)
    deadline = time.monotonic() + 10
    while not _gone(sleep_pid):
        assert time.monotonic() < deadline, "the test's own child outlived the run"
        time.sleep(0.1)


class _Process:
    """Stands for a shard's pytest: ends after ``polls`` polls, with ``status``."""

    def __init__(self, polls: int, status: int = 0, on_poll=lambda: None):
        self.polls, self.status, self.on_poll = polls, status, on_poll

    def poll(self):
        self.on_poll()
        self.polls -= 1
        return self.status if self.polls <= 0 else None


def test_a_shard_that_ends_first_records_its_own_time_not_its_neighbours():
    slow, quick = Shard("a", ["tests/a"]), Shard("b", ["tests/b"])
    slow.process, quick.process = _Process(polls=4), _Process(polls=1, status=1)
    slow.started = quick.started = time.monotonic()
    shards.wait([slow, quick])
    assert (slow.status, quick.status) == (0, 1)
    assert quick.seconds < 0.2 < slow.seconds  # quick ended at the first poll, slow 1.5 s on


def test_each_shard_is_printed_as_soon_as_it_ends(tmp_path, capsys):
    slow, quick = Shard("a", ["tests/a"]), Shard("b", ["tests/b"])
    for shard in (slow, quick):
        shard.log = tmp_path / f"{shard.name}.log"
        shard.log.write_text(f"output of shard {shard.name}\n")
        shard.started = time.monotonic()
    printed_while_slow_ran = []
    quick.process = _Process(polls=1, status=1)
    slow.process = _Process(polls=3, on_poll=lambda: printed_while_slow_ran.append(quick.reported))
    shards.wait([slow, quick])

    assert printed_while_slow_ran == [False, True, True]  # quick ended at the first poll
    out = capsys.readouterr().out
    assert out.index("output of shard b") < out.index("output of shard a")
    assert "===== shard b: exit 1 after" in out
    assert "===== shard a: exit 0 after" in out
