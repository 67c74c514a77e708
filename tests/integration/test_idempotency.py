import uuid
from datetime import UTC, datetime

import nameko
import pytest

from shared.contract import build
from shared.db import Database
from shared.messaging.amqp_client import BrokerAddress, ConfirmingPublisher
from shared.messaging.outbox import Relay
from shared.messaging.publisher import message_for
from shared.messaging.unit_of_work import UnitOfWork
from tests.services.recorder import TABLES, Alpha, Beta
from tests.support.broker import wait_for


def thing_envelope() -> dict:
    payload = {"thing_id": str(uuid.uuid4()), "amount_fen": 700, "happened_at": datetime.now(UTC)}
    return build("probe", "thing_happened", payload, occurred_at=datetime.now(UTC))


@pytest.mark.parametrize("world", ["postgresql", "sqlite"], indirect=True)
def test_the_same_event_delivered_twice_has_one_effect(world):
    # One message in flight at a time, so "later" is handled after both copies.
    with nameko.config.patch({"PREFETCH_COUNT": 1}):
        world.start(Alpha)
    envelope = thing_envelope()
    message = message_for(envelope)
    publisher = ConfirmingPublisher(BrokerAddress.from_uri(world.amqp_uri))
    publisher.publish([message, message])
    later = thing_envelope()  # sent after the duplicate: once it is applied, so was the copy
    publisher.publish([message_for(later)])

    wait_for(lambda: later["payload"]["thing_id"] in world.effects("alpha"), message="later")

    effects = world.effects("alpha")
    assert effects[envelope["payload"]["thing_id"]] == 1
    publisher.close()


class CrashBeforeMarkingSent(Relay):
    """A relay that dies after the broker confirmed the batch but before its mark is
    committed (on PostgreSQL the claim marks the rows, uncommitted until after the
    publish; on SQLite the mark is a transaction of its own after it)."""

    def _publish(self, rows):
        outcome = super()._publish(rows)
        assert len(outcome.sent) == len(rows)  # the broker confirmed the whole batch
        raise SystemExit("simulated crash between publish and mark-sent")


@pytest.mark.parametrize("world", ["postgresql", "sqlite"], indirect=True)
def test_a_batch_republished_after_a_relay_crash_has_one_effect(world):
    with nameko.config.patch({"PREFETCH_COUNT": 1}):  # the marker is handled last
        world.start(Beta)
    database = Database(world.database_urls["alpha"])
    thing_ids = [str(uuid.uuid4()) for _ in range(3)]
    with UnitOfWork(database, TABLES, source="alpha", clock=lambda: datetime.now(UTC)) as uow:
        for thing_id in thing_ids:
            uow.emit(
                "thing_recorded", {"thing_id": thing_id, "amount_fen": 1, "recorded_by": "alpha"}
            )
        uow.commit()
    publisher = ConfirmingPublisher(BrokerAddress.from_uri(world.amqp_uri))
    clock = lambda: datetime.now(UTC)  # noqa: E731

    with pytest.raises(SystemExit):
        CrashBeforeMarkingSent(database, TABLES.outbox, publisher, clock=clock).relay_batch()
    republished = Relay(database, TABLES.outbox, publisher, clock=clock).relay_all()

    assert republished == 3  # the rows were still unsent, so all went out a second time
    wait_for(lambda: len(world.effects("beta")) == 3, message="beta's three effects")
    marker = str(uuid.uuid4())  # published last: once beta applied it, the copies are done
    with UnitOfWork(database, TABLES, source="alpha", clock=clock) as uow:
        uow.emit("thing_recorded", {"thing_id": marker, "amount_fen": 1, "recorded_by": "alpha"})
        uow.commit()
    Relay(database, TABLES.outbox, publisher, clock=clock).relay_all()
    wait_for(lambda: marker in world.effects("beta"), message="the marker")
    assert world.effects("beta") == {**dict.fromkeys(thing_ids, 1), marker: 1}
    publisher.close()
    database.dispose()
