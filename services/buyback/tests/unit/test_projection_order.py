"""The projection of a unit's contracts is the same whatever order onboarding's events
arrive in, and however often: ``units_allocated`` and ``units_released`` come on
separate queues, and retries and replays reorder events of one type too (DESIGN §5).

Onboarding holds a unit under one contract at a time: a contract allocated after
another one of the same unit means the older one ended first. So the projection holds
a unit under its newest known allocation (the envelope's ``occurred_at``) unless that
contract was released, and remembers the contracts that ended."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

import pytest

from services.buyback import handlers
from services.buyback.domain.holdings import HeldUnit, Holding
from services.buyback.tests.unit.fakes import FakeUnitOfWork
from shared.messaging.errors import TransientFailure

PARK = "aux-shangjie"
PRICE = 96_000_000
T1 = datetime(2019, 6, 3, 2, 0, tzinfo=UTC)  # leased
T2 = T1 + timedelta(days=365)  # the lease ended
T3 = T2 + timedelta(days=30)  # bought, the same unit under a new contract
T4 = T3 + timedelta(days=2000)  # bought back (settled claim)

LEASE = HeldUnit("B02-1F-01", "lease", None, "ct-lease")
BUY = HeldUnit("B02-1F-01", "purchase", PRICE, "ct-buy")


def held(h: Holding) -> dict[str, tuple[str, str]]:
    return {u.unit_id: (u.contract_id, u.tenure) for u in h.units.values()}


def apply(h: Holding, event: tuple) -> None:
    kind, *args = event
    if kind == "allocate":
        unit, at = args
        h.allocate([unit], PARK, at)
    else:
        (contract_id,) = args
        h.release([LEASE.unit_id], contract_id)


# -- the domain ----------------------------------------------------------------------------


def test_an_older_contracts_allocation_arriving_late_does_not_replace_the_newer():
    h = Holding("ent-1")
    h.allocate([BUY], PARK, T3)
    h.allocate([LEASE], PARK, T1)
    assert held(h) == {"B02-1F-01": ("ct-buy", "purchase")}
    assert [u.price_fen for u in h.purchased_units()] == [PRICE]


def test_a_newer_contracts_allocation_replaces_the_older():
    h = Holding("ent-1")
    h.allocate([LEASE], PARK, T1)
    assert h.allocate([BUY], PARK, T3)
    assert held(h) == {"B02-1F-01": ("ct-buy", "purchase")}


def test_a_release_before_its_allocation_is_remembered_and_the_allocation_ignored():
    h = Holding("ent-1")
    assert h.release(["B02-1F-01"], "ct-lease") == []
    h.allocate([LEASE], PARK, T1)
    assert h.units == {}


def test_a_release_of_the_newest_contract_before_its_allocation_also_ends_an_older_one():
    h = Holding("ent-1")
    h.allocate([LEASE], PARK, T1)  # its release is still in flight
    h.release(["B02-1F-01"], "ct-buy")
    h.allocate([BUY], PARK, T3)
    assert h.units == {}


def test_a_replayed_allocation_of_a_released_contract_stays_released():
    h = Holding("ent-1")
    h.allocate([BUY], PARK, T3)
    assert h.release(["B02-1F-01"], "ct-buy") == ["B02-1F-01"]
    assert not h.allocate([BUY], PARK, T3)
    assert h.units == {} and h.purchased_units() == []


def test_an_older_allocation_after_the_newer_contract_was_released_stays_out():
    h = Holding("ent-1")
    h.allocate([BUY], PARK, T3)
    h.release(["B02-1F-01"], "ct-buy")
    h.allocate([LEASE], PARK, T1)  # its own release is still in flight
    assert h.units == {}


def test_a_stale_release_keeps_the_newer_contract_and_stays_remembered():
    h = Holding("ent-1")
    h.allocate([BUY], PARK, T3)
    assert h.release(["B02-1F-01"], "ct-lease") == []
    assert held(h) == {"B02-1F-01": ("ct-buy", "purchase")}
    h.allocate([LEASE], PARK, T1)
    assert held(h) == {"B02-1F-01": ("ct-buy", "purchase")}


HISTORY_HELD = [  # leased, lease ended, bought: held under the purchase
    ("allocate", LEASE, T1),
    ("release", "ct-lease"),
    ("allocate", BUY, T3),
]
HISTORY_RELEASED = [*HISTORY_HELD, ("release", "ct-buy")]  # … and bought back


@pytest.mark.parametrize(
    ("history", "expected"),
    [
        (HISTORY_HELD, {"B02-1F-01": ("ct-buy", "purchase")}),
        (HISTORY_RELEASED, {}),
    ],
    ids=["held", "released"],
)
def test_every_order_and_redelivery_of_a_history_gives_the_same_projection(history, expected):
    states = set()
    for order in itertools.permutations(history):
        for events in (order, order + order, tuple(e for e in order for _ in (0, 1))):
            h = Holding("ent-1")
            for event in events:
                apply(h, event)
            assert held(h) == expected, events
            states.add(repr(h.to_state()))
    assert len(states) == 1  # the stored document too, not only the units held


def test_ties_on_the_time_are_broken_by_the_contract_id_whatever_the_order():
    a = HeldUnit("B02-1F-01", "purchase", 1, "ct-a")
    b = HeldUnit("B02-1F-01", "purchase", 2, "ct-b")
    for first, second in ((a, b), (b, a)):
        h = Holding("ent-1")
        h.allocate([first], PARK, T3)
        h.allocate([second], PARK, T3)
        assert held(h) == {"B02-1F-01": ("ct-b", "purchase")}


def test_the_stored_document_keeps_the_ended_contracts_and_allocation_times():
    h = Holding("ent-1")
    h.allocate([LEASE], PARK, T1)
    h.allocate([BUY], PARK, T3)
    h.release(["B07-2F-03"], "ct-other")
    again = Holding.from_state("ent-1", h.to_state())
    assert again.to_state() == h.to_state()
    assert again.units["B02-1F-01"].allocated_at == T3
    assert not again.allocate([LEASE], PARK, T1)
    again.allocate([HeldUnit("B07-2F-03", "purchase", 5, "ct-other")], PARK, T4)
    assert held(again) == {"B02-1F-01": ("ct-buy", "purchase")}


def test_a_document_stored_before_contracts_were_remembered_still_loads():
    old = {
        "park_id": PARK,
        "admitted": True,
        "production_started_on": "2020-03-01",
        "units": [
            {
                "unit_id": "B02-1F-01",
                "tenure": "lease",
                "price_fen": None,
                "contract_id": "ct-lease",
            }
        ],
    }
    h = Holding.from_state("ent-1", old)
    assert h.units["B02-1F-01"].allocated_at is None
    assert h.allocate([BUY], PARK, T3)  # a timed allocation is newer than an untimed one
    assert held(h) == {"B02-1F-01": ("ct-buy", "purchase")}


# -- the handlers --------------------------------------------------------------------------


@pytest.fixture
def uow():
    return FakeUnitOfWork()


def allocated(uow, unit: HeldUnit, at: datetime):
    payload = {
        "enterprise_id": "ent-1",
        "units": [
            {
                "unit_id": unit.unit_id,
                "area_m2": 300,
                "tenure": unit.tenure,
                "price_fen": unit.price_fen,
                "monthly_rent_fen": None if unit.purchased else 450_000,
                "monthly_property_fee_fen": 45_000,
                "contract_id": unit.contract_id,
            }
        ],
    }
    return handlers.allocate_units(payload, PARK, uow, occurred_at=at)


def released(uow, contract_id, reason="lease_ended"):
    payload = {
        "units": ["B02-1F-01"],
        "reason": reason,
        "application_id": "a",
        "enterprise_id": "ent-1",
        "claim_id": None,
        "contract_id": contract_id,
    }
    return handlers.release_units(payload, uow, sender="onboarding")


def stored(uow):
    return {u["unit_id"]: u["contract_id"] for u in uow.store.holdings["ent-1"]["units"]}


def test_handlers_the_lease_allocated_after_the_purchase_leaves_the_purchase(uow):
    handlers.admit_enterprise({"enterprise_id": "ent-1"}, PARK, uow)
    handlers.start_production({"enterprise_id": "ent-1", "started_on": date(2020, 3, 1)}, PARK, uow)
    allocated(uow, BUY, T3)
    released(uow, "ct-lease")
    allocated(uow, LEASE, T1)
    assert stored(uow) == {"B02-1F-01": "ct-buy"}
    assert handlers.exposure(PARK, None, uow)["total_fen"] == PRICE


def test_handlers_a_release_before_its_allocation_is_taken_at_once_and_leaves_no_ghost(uow):
    # Its units_allocated may be later than the retry ladder: no waiting for it.
    assert not released(uow, "ct-lease")
    allocated(uow, LEASE, T1)
    handlers.admit_enterprise({"enterprise_id": "ent-1"}, PARK, uow)
    assert stored(uow) == {}


def test_handlers_a_release_without_a_contract_before_its_allocation_is_still_retried(uow):
    handlers.admit_enterprise({"enterprise_id": "ent-1"}, PARK, uow)
    with pytest.raises(TransientFailure):
        released(uow, None)
    assert stored(uow) == {}


def test_handlers_a_replayed_allocation_after_the_release_changes_nothing(uow):
    handlers.admit_enterprise({"enterprise_id": "ent-1"}, PARK, uow)
    allocated(uow, BUY, T3)
    assert released(uow, "ct-buy")
    before = dict(uow.store.holdings["ent-1"])
    assert not allocated(uow, BUY, T3)
    assert uow.store.holdings["ent-1"] == before and stored(uow) == {}
