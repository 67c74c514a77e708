"""The domain's errors: a rule of the model forbids this in the current state.

Each has a stable ``code``; the use cases turn it into a dead letter (an event that can
never apply) or an RPC error carrying the code (``exceptions.py``).
"""

from __future__ import annotations


class DomainError(Exception):
    """Base class of buyback domain errors; ``code`` names the broken rule."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class Refused(DomainError):
    """A command was refused by the claim's state (a withdrawal after settlement)."""


class Conflict(DomainError):
    """Two services disagree about a claim or the park's property: never half-applied."""


class UnknownPark(DomainError):
    """A park this service has no park file (and so no buyback rules) for."""
