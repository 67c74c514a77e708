"""The ticketing domain's errors.

Three kinds, because the service layer does three different things with them:

- :class:`NotYetApplicable` — *transient*: the input may become valid once another
  event has been applied (events of different types arrive in any order, DESIGN §5).
  The service maps it to the retry ladder.
- :class:`Refused` (and :class:`ReportRefused`, :class:`RatingRefused`) — the input can
  never be valid: the ticket is unchanged, the message is dead-lettered with the
  ``reason`` (a :class:`~.reasons.Reason`). ``security`` is true when the refusal is a
  security event (a firm reporting on a ticket assigned to another firm): the service
  logs it as such. ``former_assignee`` is true when that firm once held the ticket (it
  declined it, or the ticket moved on): a stale report, still a security event, with
  the field saying so.
- :class:`IllegalTicketTransition` — a command that should not have been sent in the
  ticket's state (a programming error in the caller, not a business answer).

Each class has a stable ``code`` so the service can report it without parsing messages.
"""

from __future__ import annotations

from typing import ClassVar

from services.ticketing.domain.reasons import Reason


class TicketingError(Exception):
    """Base class of ticketing domain errors; ``code`` names the broken rule."""

    code: ClassVar[str] = "ticketing_error"


class NotYetApplicable(TicketingError):
    """The input refers to a state the ticket has not reached *yet*: retry it later."""

    code = "not_yet_applicable"


class Refused(TicketingError):
    """The input can never be applied; ``reason`` says why, the ticket is unchanged."""

    code = "refused"

    def __init__(
        self, reason: Reason, *, security: bool = False, former_assignee: bool = False
    ) -> None:
        super().__init__(f"{reason.code}: {reason.message}")
        self.reason = reason
        self.security = security
        self.former_assignee = former_assignee


class ReportRefused(Refused):
    """A firm's report is refused (wrong firm, closed ticket, bad fee or outcome)."""

    code = "report_refused"


class RatingRefused(Refused):
    """An enterprise's rating is refused (bad score, rated already, cancelled ticket)."""

    code = "rating_refused"


class IllegalTicketTransition(TicketingError):
    """A command the ticket cannot take in its current state (e.g. assign a closed one)."""

    code = "illegal_ticket_transition"
