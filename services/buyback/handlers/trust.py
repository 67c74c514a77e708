"""Who buyback believes a money-moving event from.

The consumer's sender rule (``shared/messaging/senders.py``) lets the operator CLI
(``park-cli``) publish on any service's exchange as a manual correction. For the events
that approve a buyback or fix what the park pays — ``ticketing/ticket_resolved`` (a
review's outcome), ``billing/buyback_settlement_computed`` and ``billing/buyback_netted``
— that is one forged message away from paying out an unreviewed claim. Buyback believes
these only from the owning service's own broker user (``ticketing`` / ``billing``), or
from its own user (``own_user``: a replay of its own dead letter keeps the original
sender in ``park-sender``, so this is only ever a copy the service itself published; in
a development setup where one user plays every service, that user). Anyone else is
refused: a dead letter with a readable reason, nothing changed.
"""

from __future__ import annotations

from shared.messaging.errors import PermanentFailure


def publisher(sender: str | None, own_user: str | None) -> str | None:
    """Who published the event: the verified sender, or — a copy of the service's own
    with no ``park-sender`` — the service's own user (as the consumer reads it)."""
    return sender if sender is not None else own_user


def require_owner(source: str, type_: str, sender: str | None, own_user: str | None) -> str:
    """The verified publisher of ``source/type_`` if it is ``source``'s own service (or
    this service's own user); :class:`PermanentFailure` (``untrusted_sender``) otherwise."""
    who = publisher(sender, own_user)
    if who is None or who not in (source, own_user):
        named = "(no verified sender)" if who is None else repr(who[:100])
        raise PermanentFailure(
            f"untrusted_sender: {source}.events/{type_} is believed only from the {source} "
            f"service's own user; this one was published by {named}"
        )
    return who
