"""The bench's own events, registered under the bench source names.

``benchgen`` is the load generator (an ingress system); ``benchfwd`` is the project
forwarder. Importing this module registers both in the project's registry.
"""

from marshmallow import fields, validate

from shared.contract import PayloadSchema, event
from shared.contract.fields import Fen, StrictInteger, Uuid

GENERATOR_SOURCE = "benchgen"
FORWARDER_SERVICE = "benchfwd"
SINK_SERVICE = "benchsink"
INPUT_TYPE = "work_requested"
OUTPUT_TYPE = "work_forwarded"


class EpochNanoseconds(fields.Integer):
    """A JSON integer of nanoseconds since the epoch, bounded by a signed 64-bit integer:
    the contract's own integers stop at ±10^15 (``MAX_FEN``), and a time in nanoseconds is
    about 1.8 × 10^18 — the inputs would all be dead-lettered as malformed."""

    def __init__(self, **kwargs):
        super().__init__(strict=True, validate=validate.Range(min=0, max=2**63 - 1), **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


@event(GENERATOR_SOURCE, INPUT_TYPE)
class WorkRequested(PayloadSchema):
    """The bench generator asks a forwarder to pass one item on."""

    seq = StrictInteger(required=True, minimum=0)
    sent_ns = EpochNanoseconds(required=True)  # epoch ns of the input's publish
    item_id = Uuid(required=True)
    amount_fen = Fen(required=True)


@event(FORWARDER_SERVICE, OUTPUT_TYPE)
class WorkForwarded(PayloadSchema):
    """The project forwarder recorded an item and passes it on."""

    seq = StrictInteger(required=True, minimum=0)
    sent_ns = EpochNanoseconds(required=True)
    item_id = Uuid(required=True)
    amount_fen = Fen(required=True)
