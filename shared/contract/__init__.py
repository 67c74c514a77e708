"""The event contract: envelope, strict fields, and the registry of every event.

Importing this package registers every event the park knows, so ``REGISTRY`` is complete.
"""

from shared.contract import billing, buyback, ingress, onboarding, ticketing  # noqa: F401  (they register events)
from shared.contract.envelope import Event, build, encode, parse, validate_outgoing
from shared.contract.registry import REGISTRY, EventKey, PayloadSchema, Registry, event

__all__ = [
    "REGISTRY",
    "Event",
    "EventKey",
    "PayloadSchema",
    "Registry",
    "build",
    "encode",
    "event",
    "parse",
    "validate_outgoing",
]
