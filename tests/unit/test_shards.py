"""``make test``'s shards (tests/shards.py): no test left out, none run twice, and a shard
that collected nothing fails the run."""

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
