"""``examples/samples.py`` ends a runnable example with the publisher CLI's exit codes:
one table (``clients.publisher.cli.EXIT_CODES``, documented in docs/integration.md §3),
imported by the examples, so an integrator's script sees the same code for the same
failure whichever way it publishes."""

import importlib.util
from pathlib import Path

import pytest

from clients.publisher import BrokerUnavailable, InvalidEvent, PublisherError, Refused, Unroutable
from clients.publisher.cli import EXIT_CODES

SAMPLES = Path(__file__).resolve().parents[2] / "examples" / "samples.py"


def load_samples():
    spec = importlib.util.spec_from_file_location("examples_samples", SAMPLES)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def raising(error: Exception):
    def publish() -> None:
        raise error

    return publish


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (InvalidEvent("application_submitted", {"payload.uscc": "bad"}), 2),
        (Unroutable("no exchange portal.events"), 3),
        (Refused("ACCESS_REFUSED"), 4),
        (BrokerUnavailable("connection refused"), 5),
    ],
)
def test_an_example_exits_with_the_publisher_clis_code_for_each_failure(error, code, capsys):
    assert EXIT_CODES[type(error)] == code  # the table docs/integration.md shows
    assert load_samples().EXIT_CODES is EXIT_CODES  # imported, not copied

    assert load_samples().run(raising(error)) == code
    assert str(error) in capsys.readouterr().err


def test_an_unknown_publisher_error_exits_1_as_in_the_cli():
    assert load_samples().run(raising(PublisherError("something new"))) == 1


def test_a_sent_event_exits_0():
    assert load_samples().run(lambda: None) == 0
