"""``kill -9`` in the middle of a batch (``@handle_events``): a real OS process killed
while one batch's transaction is open — its inbox claim made, some of its events' effects
written, nothing committed. Afterwards every event has exactly one effect in alpha and in
beta, nothing is dead-lettered, and the restarted service still applies in batches.

The services here are the recorder's alpha and beta with their event handlers batched
(run by ``nameko run tests.faults.test_batch_crashes:BatchedAlpha``); each event of the
stream pauses its handler 10 ms inside the batch, so a batch's transaction is open most
of the time and the kill lands inside one.
"""

import eventlet
import pytest
from sqlalchemy import func, select, text

from shared.messaging.batch import handle_events
from shared.messaging.topology import Subscription
from tests.faults.test_crashes import (
    assert_each_applied_once_in_both_services,
    publish_things,
)
from tests.services import recorder
from tests.support.broker import wait_for

pytestmark = pytest.mark.slow

STREAM = 600
PAUSE_AMOUNT = 100  # every thing of the stream: publish_things uses 100 fen
BATCH = 20


def _pause(event) -> None:
    if event.payload["amount_fen"] == PAUSE_AMOUNT:
        eventlet.sleep(0.01)  # inside the batch's transaction, between two effects


class BatchedAlpha(recorder.Alpha):
    """recorder.Alpha with thing_happened batched (its other handlers as they are)."""

    @handle_events("probe", "thing_happened", batch=BATCH, concurrency=2)
    def on_thing_happened(self, event):
        _pause(event)
        recorder.Alpha.on_thing_happened(self, event)  # the unbatched handler's body


class BatchedBeta(recorder.Beta):
    """recorder.Beta with thing_recorded batched."""

    @handle_events("alpha", "thing_recorded", batch=BATCH)  # as many batches as workers
    def on_thing_recorded(self, event):
        _pause(event)
        recorder.Beta.on_thing_recorded(self, event)


TARGETS = {
    "alpha": f"{__name__}:{BatchedAlpha.__name__}",
    "beta": f"{__name__}:{BatchedBeta.__name__}",
}
QUEUES = {
    "alpha": Subscription("alpha", "probe", "thing_happened").queue,
    "beta": Subscription("beta", "alpha", "thing_recorded").queue,
}


def in_the_middle_of_a_batch(world, service: str) -> bool:
    """The service holds a transaction open whose last statement wrote an effect: a batch
    claimed, part-way through its events, not committed."""
    with world.engines[service].connect() as connection:
        return bool(
            connection.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND state = 'idle in transaction' AND query LIKE 'INSERT INTO effects%'"
                )
            ).scalar_one()
        )


def batch_sizes(world, service: str) -> list[int]:
    """Events per inbox claim (a batch claims its events at one time)."""
    inbox = recorder.TABLES.inbox
    with world.engines[service].connect() as connection:
        rows = connection.execute(
            select(func.count())
            .select_from(inbox)
            .where(inbox.c.consumer == QUEUES[service])
            .group_by(inbox.c.processed_at)
        ).all()
    return [count for (count,) in rows]


@pytest.mark.parametrize("victim", ["alpha", "beta"])
def test_a_batched_service_killed_mid_batch_applies_every_event_once(world, victim):
    things = publish_things(world.publisher, STREAM)  # a backlog: batches fill at once
    processes = {
        service: world.start(service, target=TARGETS[service]) for service in ("alpha", "beta")
    }

    def mid_batch_and_mid_stream() -> bool:
        applied = len(world.effects(victim))
        return STREAM // 10 <= applied < STREAM * 8 // 10 and in_the_middle_of_a_batch(
            world, victim
        )

    wait_for(
        mid_batch_and_mid_stream,
        timeout=60,
        interval=0.02,
        message=f"{victim} to be inside a batch, part-way through the stream",
    )
    processes[victim].kill9()

    applied_when_killed = len(world.effects(victim))
    assert applied_when_killed < STREAM
    assert not in_the_middle_of_a_batch(world, victim)  # PostgreSQL rolled it back
    assert len(world.effects(victim)) == applied_when_killed  # nothing of it committed

    processes[victim].restart()
    assert_each_applied_once_in_both_services(world, things)
    for service in ("alpha", "beta"):
        sizes = batch_sizes(world, service)
        assert sum(sizes) == STREAM and max(sizes) > 1, (service, sizes)
