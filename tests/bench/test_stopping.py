"""How a bench run takes a stop (Ctrl-C, SIGTERM): at once, except inside a clean-up."""

import os
import signal

import pytest

from bench import stopping


@pytest.fixture
def installed():
    before = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    stopping.install()
    yield
    for number, handler in before.items():
        signal.signal(number, handler)


def _stop(number: signal.Signals = signal.SIGTERM) -> None:
    os.kill(os.getpid(), number)  # the handler runs in this (the main) thread, right here


def test_a_stop_outside_a_clean_up_is_raised_at_once(installed):
    with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
        _stop()
    with pytest.raises(KeyboardInterrupt, match="SIGINT"):
        _stop(signal.SIGINT)


def test_a_stop_inside_a_clean_up_waits_for_its_end(installed):
    finished = []
    with pytest.raises(KeyboardInterrupt, match="SIGTERM"), stopping.uninterrupted():
        with stopping.uninterrupted():  # nested: raised when the outermost ends
            _stop()
            finished.append("inner")
        finished.append("outer")
    assert finished == ["inner", "outer"]
    with stopping.uninterrupted():  # taken once: the next section is not stopped by it
        pass


def test_a_second_stop_does_not_wait(installed):
    reached = []
    with pytest.raises(KeyboardInterrupt, match="SIGINT"), stopping.uninterrupted():
        _stop()
        reached.append("after the first")
        _stop(signal.SIGINT)
        reached.append("after the second")
    assert reached == ["after the first"]


def test_the_stop_wins_over_an_error_the_clean_up_leaves_with(installed):
    with pytest.raises(KeyboardInterrupt) as raised, stopping.uninterrupted():
        _stop()
        raise RuntimeError("the clean-up failed")
    assert isinstance(raised.value.__context__, RuntimeError)
    with stopping.uninterrupted():
        pass
