"""The errors of the messaging core.

The consumer entrypoint decides what to do with a message by the class of the error its
handler raised: a duplicate is acknowledged, a permanent failure is dead-lettered at
once, anything else is treated as transient and climbs the retry ladder.
"""


class ParkError(Exception):
    """Base class of every error raised by the project's shared code."""


class PermanentFailure(ParkError):
    """Retrying cannot help: the message goes straight to the service's dead-letter queue."""


class MalformedMessage(PermanentFailure):
    """The envelope or payload is not valid JSON, lacks a field or has a wrong type.

    ``reason`` names the field or rule that failed; it becomes the ``park-error`` header.
    """

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class UnknownEvent(MalformedMessage):
    """No payload schema is registered for the message's ``(source, type, version)``."""


class ContractViolation(PermanentFailure):
    """A service tried to emit an event that breaks the contract: a bug, never retried."""


class DuplicateEvent(ParkError):
    """The consumer has already applied this event; the message is acknowledged, no effect."""


class TransientFailure(ParkError):
    """Raised explicitly by a handler to ask for a retry later (any unexpected error is too)."""


class TopologyMissing(ParkError):
    """A queue or exchange the service needs was not declared: run the declare step first."""


class PublishFailed(ParkError):
    """The broker did not confirm a publish (nack, timeout or lost connection)."""


class Unroutable(PublishFailed):
    """The broker could not route some messages of a batch (a ``basic.return`` of a
    mandatory publish, or an exchange that does not exist).

    ``indices`` are the positions, in the batch given to ``publish``, of the messages
    that were not routed; the others may have been confirmed. A caller that keeps work
    (an outbox, a dead letter) keeps exactly those and can quarantine them.
    """

    def __init__(self, reason: str, indices: tuple[int, ...]):
        super().__init__(reason)
        self.reason = reason
        self.indices = tuple(indices)
