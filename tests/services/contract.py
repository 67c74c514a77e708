"""Test-only events: registered in the project's registry when the tests import this."""

from shared.contract import PayloadSchema, event
from shared.contract.fields import Fen, StrictInteger, Text, UtcDateTime, Uuid


@event("probe", "thing_happened")
class ThingHappened(PayloadSchema):
    """Something happened upstream (test ingress event)."""

    thing_id = Uuid(required=True)
    amount_fen = Fen(required=True)
    happened_at = UtcDateTime(required=True)


@event("probe", "flaky_thing")
class FlakyThing(PayloadSchema):
    """A thing whose handler fails ``fail_times`` times first (-1: always)."""

    thing_id = Uuid(required=True)
    fail_times = StrictInteger(required=True, minimum=-1)


@event("probe", "thing_ignored")
class ThingIgnored(PayloadSchema):
    """An event nobody subscribes to."""

    thing_id = Uuid(required=True)


@event("alpha", "thing_recorded")
class ThingRecorded(PayloadSchema):
    """alpha recorded a thing and passes it on."""

    thing_id = Uuid(required=True)
    amount_fen = Fen(required=True)
    recorded_by = Text(required=True)
