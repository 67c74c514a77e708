"""The domain's errors: an operation the model's rules forbid in the current state.

Two names for errors, one per audience: this module (``domain/errors.py``) holds the
**domain's** errors, raised by the pure model; ``services/onboarding/exceptions.py``
holds the **RPC-facing** errors callers see, which the use cases raise, carrying a domain
error's ``code`` when one caused them.

Domain errors are raised for commands that should not have been sent (an operator ending
a lease the enterprise does not hold, a second production start), unlike business
rejections of incoming events, which the model records as events with
:class:`~.reasons.Reason` s. Each has a stable ``code`` so the service layer can report
it without parsing the message.
"""

from __future__ import annotations

from typing import ClassVar


class DomainError(Exception):
    """Base class of onboarding domain errors; ``code`` names the broken rule."""

    code: ClassVar[str] = "domain_error"


class IllegalUnitTransition(DomainError):
    """A unit cannot move from its current status that way (e.g. reserve a sold unit)."""

    code = "illegal_unit_transition"


class LeaseNotHeld(DomainError):
    """A lease was to be ended on units the enterprise does not hold on lease."""

    code = "lease_not_held"


class UnitsNotOwned(DomainError):
    """A buyback settlement names units the enterprise does not own (bought)."""

    code = "units_not_owned"


class ApplicationClosed(DomainError):
    """The application was rejected or suspended and takes no further input."""

    code = "application_closed"


class ProductionAlreadyStarted(DomainError):
    """Production start is recorded once; a different date for it is refused."""

    code = "production_already_started"


class InvalidDate(DomainError):
    """A date lies in the future or before the enterprise was admitted."""

    code = "invalid_date"


class UnknownServiceOfficer(DomainError):
    """The chief service officer is not on the park's roster."""

    code = "unknown_service_officer"


class NoServiceOfficers(DomainError):
    """The park's roster is empty, so no chief service officer can be assigned."""

    code = "no_service_officers"


class ParkReloadRefused(DomainError):
    """A reloaded park file would change or remove a reserved, sold or leased unit."""

    code = "park_reload_refused"
