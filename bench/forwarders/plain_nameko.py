"""What a nameko user writes today: ``@event_handler`` + ``EventDispatcher``, no database.

nameko run --config bench.yaml bench.forwarders.plain_nameko:PlainForwarder
"""

from nameko.events import EventDispatcher, event_handler

from bench.contract import GENERATOR_SOURCE, INPUT_TYPE, OUTPUT_TYPE
from bench.messages import forwarded_envelope

SERVICE = "plainfwd"


class PlainForwarder:
    """Forwards every ``benchgen`` ``work_requested`` as ``plainfwd`` ``work_forwarded``."""

    name = SERVICE
    dispatch = EventDispatcher()

    @event_handler(GENERATOR_SOURCE, INPUT_TYPE)
    def on_work_requested(self, envelope):
        self.dispatch(OUTPUT_TYPE, forwarded_envelope(SERVICE, envelope))


INPUT_QUEUE = f"evt-{GENERATOR_SOURCE}-{INPUT_TYPE}--{SERVICE}.on_work_requested"
"""The queue nameko's ``event_handler`` declares for the handler above."""
