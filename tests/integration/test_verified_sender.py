"""The broker-verified sender (AMQP ``user_id``) reaches the handler, survives the retry
ladder, and cannot be forged with a ``park-sender`` header."""

import uuid
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from shared.contract import build
from shared.messaging.amqp_client import BrokerAddress, ConfirmingPublisher
from shared.messaging.management import ManagementClient
from shared.messaging.publisher import EventPublisher, message_for
from tests.services.recorder import Alpha, effects
from tests.support.broker import wait_for


@pytest.fixture
def firm_uri(world):
    """A broker user of a resident firm, allowed to publish in this test's vhost."""
    address = BrokerAddress.from_uri(world.amqp_uri)
    management = ManagementClient.for_broker(None, address)
    user = f"firm-law-{uuid.uuid4().hex[:6]}"
    management.put_user(user, "secret")
    management.set_permissions(address.vhost, user, configure="^$", write=".*", read="^$")
    yield f"pyamqp://{user}:secret@{address.host}:{address.port}/{address.vhost}", user
    management.delete_user(user)


def senders(world, thing_id):
    with world.engine("alpha").connect() as connection:
        return connection.scalars(
            select(effects.c.sender).where(effects.c.thing_id == thing_id)
        ).all()


def test_the_handler_sees_the_verified_sender_even_after_a_retry(world, firm_uri):
    uri, user = firm_uri
    world.start(Alpha)
    thing_id = str(uuid.uuid4())

    with EventPublisher(uri, "probe") as firm:
        firm.publish("flaky_thing", {"thing_id": thing_id, "fail_times": 1})

    wait_for(lambda: senders(world, thing_id), timeout=20, message="the effect")
    assert senders(world, thing_id) == [user]


def test_a_park_sender_header_from_anyone_else_is_ignored(world, firm_uri):
    uri, user = firm_uri
    world.start(Alpha)
    thing_id = str(uuid.uuid4())
    payload = {"thing_id": thing_id, "fail_times": 0}
    envelope = build("probe", "flaky_thing", payload, occurred_at=datetime.now(UTC))
    genuine = message_for(envelope, user_id=user)
    forged = replace(
        genuine, properties={**genuine.properties, "headers": {"park-sender": "firm-other"}}
    )

    ConfirmingPublisher(BrokerAddress.from_uri(uri)).publish([forged])

    wait_for(lambda: senders(world, thing_id), message="the effect")
    assert senders(world, thing_id) == [user]


def test_an_event_without_user_id_has_no_sender(world):
    world.start(Alpha)
    thing_id = str(uuid.uuid4())

    with EventPublisher(world.amqp_uri, "probe", sign_as_user=False) as anonymous:
        anonymous.publish("flaky_thing", {"thing_id": thing_id, "fail_times": 0})

    wait_for(lambda: world.effects("alpha").get(thing_id), message="the effect")
    assert senders(world, thing_id) == [None]
