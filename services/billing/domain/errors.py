"""The billing domain's errors.

Two kinds, because the service layer does two different things with them:

- :class:`NotYetApplicable` — *transient*: the input refers to something billing does
  not know yet (events of different types arrive in any order, DESIGN §5). The service
  maps it to the retry ladder.
- :class:`Refused` — the input can never be valid; ``code`` is a stable machine-readable
  reason, the message is for humans. Nothing is changed.
"""

from __future__ import annotations

from typing import ClassVar


class BillingError(Exception):
    """Base class of billing domain errors; ``code`` names the broken rule."""

    code: ClassVar[str] = "billing_error"


class NotYetApplicable(BillingError):
    """The input refers to something billing does not know *yet*: retry it later."""

    code = "not_yet_applicable"


class Refused(BillingError):
    """The input can never be applied; ``reason`` is its stable code."""

    code = "refused"

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message
