"""What can go wrong when a system publishes an event, one class per answer it needs.

Every error names what to fix. Only :class:`BrokerUnavailable` is worth trying again
later as it is; the others need a change (the payload, the topology, the credentials).
"""


class PublisherError(Exception):
    """Base of every error the publisher library raises."""


class InvalidEvent(PublisherError, ValueError):
    """The event breaks the contract (``shared/contract/``): nothing was sent.

    ``problems`` maps each failing field (``payload.enterprise.uscc``, ``type``,
    ``correlation_id``) to the reason; ``fields`` lists them in order.
    """

    def __init__(self, event: str, problems: dict[str, str]):
        self.event = event
        self.problems = dict(sorted(problems.items()))
        self.fields = tuple(self.problems)
        described = "; ".join(f"{name}: {why}" for name, why in self.problems.items())
        super().__init__(f"{event}: {described}")


class Unroutable(PublisherError):
    """The broker could route the event nowhere: it returned it (a ``mandatory`` publish on
    an exchange with no queue bound and no alternate exchange) or the exchange does not
    exist. The park's topology gives every ``<system>.events`` the alternate exchange
    ``park.unrouted``, so this means the topology is not declared (``park topology
    declare``) or the URI points at the wrong vhost."""


class Refused(PublisherError):
    """The broker refused the event or the connection: no write permission on the
    exchange (publishing as another system), a ``user_id`` that is not the connection's
    user, wrong credentials or a disabled system, or a negative confirm (``nack``).
    Retrying as it is cannot help."""


class BrokerUnavailable(PublisherError):
    """The broker could not be reached, or the connection was lost, on every attempt
    (``retries`` reconnections with exponential back-off). The event may be sent again
    later as it is: consumers apply an idempotency key (``application_id``,
    ``bank_txn_id``, …) once."""
