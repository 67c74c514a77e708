"""Stopping a bench run (Ctrl-C, SIGTERM) without leaving anything behind.

A stop raises ``KeyboardInterrupt`` in the main thread, which ends the measurement under
way through its ``finally`` blocks; but a stop that lands *inside* one of those clean-ups
(a vhost being deleted, a database dropped, a forwarder killed) would leave that thing
behind. Code under :func:`uninterrupted` is therefore never cut short: a stop arriving
there waits until the section ends and is raised then. A second stop does not wait (the
user insists: a vhost the broker takes minutes to delete is then left).
"""

import contextlib
import os
import signal
from collections.abc import Iterator
from types import FrameType

_depth = 0
_pending: str | None = None


def install() -> None:
    """Make SIGINT and SIGTERM stop the run this way (the main thread's handlers)."""
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)


def _on_signal(signum: int, frame: FrameType | None) -> None:
    global _pending
    name = signal.Signals(signum).name
    if _depth and _pending is None:
        _pending = name
        # Straight to the file descriptor: print() here could re-enter a print under way.
        os.write(2, f"\n  {name}: stopping once this clean-up ends (again: at once)\n".encode())
        return
    _pending = None  # raised now: not again when the section ends
    raise KeyboardInterrupt(name)


@contextlib.contextmanager
def uninterrupted() -> Iterator[None]:
    """A section a stop does not cut short; a stop that came meanwhile is raised as it
    ends (the outermost section), over an error it may be leaving with: the stop wins."""
    global _depth, _pending
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if _depth == 0 and _pending is not None:
            name, _pending = _pending, None
            raise KeyboardInterrupt(name)
