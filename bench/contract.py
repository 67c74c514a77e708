"""The bench's own events, registered under the bench source names.

``benchgen`` is the load generator (an ingress system); ``benchfwd`` is the project
forwarder. Importing this module registers both in the project's registry.
"""

from shared.contract import PayloadSchema, event
from shared.contract.fields import Fen, StrictInteger, Uuid

GENERATOR_SOURCE = "benchgen"
FORWARDER_SERVICE = "benchfwd"
SINK_SERVICE = "benchsink"
INPUT_TYPE = "work_requested"
OUTPUT_TYPE = "work_forwarded"


@event(GENERATOR_SOURCE, INPUT_TYPE)
class WorkRequested(PayloadSchema):
    """The bench generator asks a forwarder to pass one item on."""

    seq = StrictInteger(required=True, minimum=0)
    sent_ns = StrictInteger(required=True, minimum=0)  # epoch ns of the input's publish
    item_id = Uuid(required=True)
    amount_fen = Fen(required=True)


@event(FORWARDER_SERVICE, OUTPUT_TYPE)
class WorkForwarded(PayloadSchema):
    """The project forwarder recorded an item and passes it on."""

    seq = StrictInteger(required=True, minimum=0)
    sent_ns = StrictInteger(required=True, minimum=0)
    item_id = Uuid(required=True)
    amount_fen = Fen(required=True)
