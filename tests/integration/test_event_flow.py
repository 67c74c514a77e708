import uuid
from datetime import UTC, datetime

from tests.support.broker import get_messages, wait_for
from tests.services.recorder import Alpha, Beta


def thing(amount_fen: int = 1250) -> dict:
    return {"thing_id": str(uuid.uuid4()), "amount_fen": amount_fen,
            "happened_at": datetime.now(UTC)}


def test_an_event_crosses_two_services_with_its_correlation_id_intact(world):
    world.start(Alpha)
    world.start(Beta)
    payload = thing()
    sent = world.publisher.publish("thing_happened", payload, park_id="aux-shangjie")

    wait_for(lambda: world.effects("beta").get(payload["thing_id"]), message="beta's effect")

    with world.engine("beta").connect() as connection:
        row = connection.exec_driver_sql("SELECT correlation_id FROM effects").one()
    assert row.correlation_id == sent["correlation_id"]
    assert world.effects("alpha") == {payload["thing_id"]: 1}
