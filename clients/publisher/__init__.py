"""The publisher library for the systems that feed the park (portal, gov, bank, meters):
one ingress event at a time, checked against the contract, built into the envelope of
DESIGN §3, confirmed by the broker. ``docs/integration.md`` is the guide;
``python -m clients.publisher send <file.json> --system portal`` the command line."""

from clients.publisher.errors import (
    BrokerUnavailable,
    InvalidEvent,
    PublisherError,
    Refused,
    Unroutable,
)
from clients.publisher.publisher import Published, Publisher, development_uri
from clients.publisher.validation import INGRESS_SYSTEMS, ingress_specs, validate_payload

__all__ = [
    "INGRESS_SYSTEMS",
    "BrokerUnavailable",
    "InvalidEvent",
    "Published",
    "Publisher",
    "PublisherError",
    "Refused",
    "Unroutable",
    "development_uri",
    "ingress_specs",
    "validate_payload",
]
