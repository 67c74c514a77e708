"""The bench deletes each measurement's vhost and waits until the broker has, so the next
measurement never shares the machine with the clean-up of the last one (on 28 November a
FastStream run left ~80,000 deliveries to settle: the DELETE timed out and the next
measurement ran beside the broker's clean-up)."""

import pytest
import requests

from bench import broker
from shared.messaging.management import ManagementUnavailable


class _BusyManagement:
    """A management API that answers the first DELETEs late and holds the vhost a while."""

    timeout = 10.0

    def __init__(self, late_deletes: int, held_for_checks: int):
        self.late_deletes, self.held_for_checks = late_deletes, held_for_checks
        self.deletes = 0

    def delete_vhost(self, name, *, missing_ok=False):
        assert missing_ok  # a late answer may have deleted it already
        self.deletes += 1
        if self.deletes <= self.late_deletes:
            raise requests.ReadTimeout("Read timed out. (read timeout=120.0)")

    def vhost_or_none(self, name):
        if self.held_for_checks > 0:
            self.held_for_checks -= 1
            return {"name": name}
        return None


@pytest.fixture
def no_sleep(monkeypatch):
    slept = []
    monkeypatch.setattr(broker.time, "sleep", slept.append)
    # the client given a longer timeout (dataclasses.replace) is the fake itself
    monkeypatch.setattr(broker.dataclasses, "replace", lambda management, **_: management)
    return slept


def test_a_late_delete_is_waited_for_until_the_vhost_is_gone(no_sleep, capsys):
    management = _BusyManagement(late_deletes=2, held_for_checks=3)

    broker.delete_vhost(management, "bench-faststream-db-1")

    assert management.held_for_checks == 0  # returned only once the broker let it go
    assert management.deletes == 4
    assert len(no_sleep) == 3
    assert "waiting for the broker to finish deleting vhost bench-faststream-db-1" in (
        capsys.readouterr().out
    )


def test_a_vhost_the_broker_never_lets_go_fails_the_measurement(monkeypatch, no_sleep):
    management = _BusyManagement(late_deletes=0, held_for_checks=10**6)
    clock = iter(range(0, 10**6, 100))
    monkeypatch.setattr(broker.time, "monotonic", lambda: next(clock))

    with pytest.raises(TimeoutError, match="still holds vhost bench-x after 900 s"):
        broker.delete_vhost(management, "bench-x")


def test_other_management_calls_are_retried_when_answered_late(no_sleep):
    answers = [requests.ReadTimeout("late"), ManagementUnavailable("away"), None]

    def call():
        answer = answers.pop(0)
        if answer is not None:
            raise answer

    broker._retry(call)
    assert answers == [] and len(no_sleep) == 2
