"""How a use case reports what it cannot do to whoever called it: to an event consumer,
a transient failure (retry later); to an operator over RPC, the domain's own code."""

from contextlib import contextmanager

from services.onboarding.domain.errors import DomainError
from services.onboarding.exceptions import IllegalTransition
from shared.messaging.errors import TransientFailure


def not_seen_yet(application_id: str) -> TransientFailure:
    """What an event naming an application onboarding has not received raises.

    Events of different types arrive in any order (each subscription has its own
    queue): the ``application_submitted`` may still come, so this is a transient
    failure — the retry ladder, then a dead letter saying so — never a refusal.
    """
    return TransientFailure(
        f"application {application_id} is unknown: its application_submitted has not arrived (yet)"
    )


@contextmanager
def domain_rules():
    """Report a broken domain rule to the RPC caller with the domain's own code."""
    try:
        yield
    except DomainError as error:
        raise IllegalTransition(str(error), code=error.code) from None
