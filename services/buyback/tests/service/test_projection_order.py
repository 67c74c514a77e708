"""The projection on the real broker and PostgreSQL, with onboarding's events delivered
in reverse order, each applied before the next is published: the enterprise ends up
holding what onboarding says it holds — no older contract back in place of the newer,
no unit released before its allocation arrived left behind as a ghost."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from services.buyback.orm import messaging
from services.buyback.tests.service.conftest import PARK, PRICE
from shared.messaging.publisher import EventPublisher
from tests.support.broker import as_user, wait_for

T1 = datetime(2019, 6, 3, 2, 0, tzinfo=UTC)  # admitted, a unit leased
T2 = T1 + timedelta(days=365)  # the lease ended
T3 = T2 + timedelta(days=30)  # the same unit bought, with another, under a new contract
T4 = T3 + timedelta(days=90)  # production started


class Onboarding:
    """Publishes as onboarding, each event at the time the test gives it."""

    def __init__(self, buyback):
        self.buyback = buyback
        self.at = T1
        self.publisher = EventPublisher(
            as_user(buyback.amqp_uri, "onboarding"), "onboarding", clock=lambda: self.at
        )

    def publish(self, at: datetime, type_: str, payload: dict) -> dict:
        self.at = at
        return self.publisher.publish(type_, payload, park_id=PARK)

    def close(self):
        self.publisher.close()


@pytest.fixture
def onboarding(buyback):
    world = Onboarding(buyback)
    yield world
    world.close()


def admitted(enterprise_id: str, application_id: str) -> dict:
    return {
        "application_id": application_id,
        "enterprise_id": enterprise_id,
        "enterprise_name": "郑州恒达精密机械有限公司",
        "uscc": "91410100000000019L",
        "industry_code": "C3464",
        "tenure": "purchase",
        "supply_chain_partner": True,
        "environmental_review_required": False,
        "chief_service_officer": "cso-02",
    }


def allocated(enterprise_id, application_id, contract_id, tenure, units) -> dict:
    return {
        "application_id": application_id,
        "enterprise_id": enterprise_id,
        "contract_id": contract_id,
        "tenure": tenure,
        "units": [
            {
                "unit_id": unit_id,
                "area_m2": 300,
                "tenure": tenure,
                "price_fen": PRICE if tenure == "purchase" else None,
                "monthly_rent_fen": None if tenure == "purchase" else 450_000,
                "monthly_property_fee_fen": 45_000,
                "contract_id": contract_id,
            }
            for unit_id in units
        ],
        "lease_start": None,
        "lease_end": None,
    }


def lease_ended(enterprise_id, application_id, contract_id, units) -> dict:
    return {
        "units": list(units),
        "reason": "lease_ended",
        "application_id": application_id,
        "enterprise_id": enterprise_id,
        "claim_id": None,
        "contract_id": contract_id,
    }


def a_lease_that_ended(enterprise_id, application_id, unit_id) -> list[tuple[datetime, str, dict]]:
    """The enterprise admitted and ``unit_id`` leased to it at T1, the lease ended at T2:
    the history as onboarding published it (at, type, payload)."""
    return [
        (T1, "enterprise_admitted", admitted(enterprise_id, application_id)),
        (
            T1,
            "units_allocated",
            allocated(enterprise_id, application_id, "ct-lease", "lease", [unit_id]),
        ),
        (T2, "units_released", lease_ended(enterprise_id, application_id, "ct-lease", [unit_id])),
    ]


def applied(buyback, envelope: dict) -> bool:
    with buyback.database.transaction() as session:
        return (
            session.execute(
                select(func.count()).where(messaging.inbox.c.event_id == envelope["event_id"])
            ).scalar_one()
            > 0
        )


def deliver_in_reverse(buyback, onboarding, history):
    """Publish ``history`` (at, type, payload — in the order onboarding published it)
    from its last event to its first, each once the service has applied the one before."""
    for at, type_, payload in reversed(history):
        envelope = onboarding.publish(at, type_, payload)
        wait_for(lambda: applied(buyback, envelope), message=f"{type_} applied")  # noqa: B023


def held(buyback, enterprise_id) -> dict[str, tuple[str, str]]:
    with buyback.uow() as uow:
        holding = uow.holdings.get(enterprise_id)
    return {u.unit_id: (u.contract_id, u.tenure) for u in holding.units.values()}


def test_a_lease_then_a_purchase_of_the_same_unit_delivered_in_reverse(buyback, onboarding):
    buyback.start()
    enterprise, application = f"ent-{uuid.uuid4().hex[:8]}", str(uuid.uuid4())
    bought = ("B02-1F-01", "B07-2F-03")
    deliver_in_reverse(
        buyback,
        onboarding,
        [
            *a_lease_that_ended(enterprise, application, "B02-1F-01"),
            (
                T3,
                "units_allocated",
                allocated(enterprise, application, "ct-buy", "purchase", bought),
            ),
            (
                T4,
                "production_started",
                {
                    "enterprise_id": enterprise,
                    "application_id": application,
                    "started_on": "2020-03-01",
                },
            ),
        ],
    )
    assert held(buyback, enterprise) == {
        "B02-1F-01": ("ct-buy", "purchase"),
        "B07-2F-03": ("ct-buy", "purchase"),
    }
    assert buyback.rpc("exposure_report", "2026-11-27")["total_fen"] == 2 * PRICE
    # The claim buys back both units at the recorded purchase price.
    claim = buyback.request(enterprise)
    [filed] = buyback.wait_for_event("claim_filed", claim_id=claim)
    assert filed["payload"]["gross_fen"] == 2 * PRICE
    assert buyback.dead_letters() == [] and not buyback.retrying()


def test_a_release_applied_before_its_allocation_leaves_no_ghost_unit(buyback, onboarding):
    """The release is not retried while its allocation is on another queue (a retry
    ladder that ran out would leave the unit held for good once the allocation came)."""
    buyback.start()
    enterprise, application = f"ent-{uuid.uuid4().hex[:8]}", str(uuid.uuid4())
    deliver_in_reverse(
        buyback, onboarding, a_lease_that_ended(enterprise, application, "B05-1F-01")
    )
    assert held(buyback, enterprise) == {}
    assert buyback.dead_letters() == [] and not buyback.retrying()
