"""A settlement is netted only against units billing knows the enterprise bought: a
``settlement_requested`` that overtakes the ``units_allocated`` of a claimed unit (another
queue, DESIGN §5) waits for it, rather than paying back a price never paid."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from services.billing import handlers
from services.billing.domain.errors import NotYetApplicable
from services.billing.tests.unit.fake_uow import PARK, Clock, FakeUnitOfWork

USCC = "91410100000000019L"
PRICE = 96_000_000


@pytest.fixture
def uow(tmp_path):
    unit = FakeUnitOfWork(tmp_path / "billing.db", Clock(datetime(2026, 11, 2, 2, 0, tzinfo=UTC)))
    yield unit
    assert handlers.trial_balance(unit)["total_fen"] == 0
    unit.database.dispose()


def allocate_purchase(uow, unit_id="A-101"):
    handlers.allocate_units(
        {
            "application_id": str(uuid.uuid4()),
            "enterprise_id": "ent-1",
            "contract_id": "C-1",
            "tenure": "purchase",
            "units": [
                {
                    "unit_id": unit_id,
                    "area_m2": 300,
                    "tenure": "purchase",
                    "price_fen": PRICE,
                    "monthly_rent_fen": None,
                    "monthly_property_fee_fen": 45_000,
                    "contract_id": "C-1",
                }
            ],
            "lease_start": None,
            "lease_end": None,
        },
        uow.clock(),
        uow,
    )


def request(claim_id):
    return {
        "claim_id": claim_id,
        "enterprise_id": "ent-1",
        "units": [{"unit_id": "A-101", "price_fen": PRICE}],
        "gross_fen": PRICE,
    }


def test_a_settlement_request_before_the_units_allocation_waits_for_it(uow):
    handlers.admit_enterprise(
        {"enterprise_id": "ent-1", "uscc": USCC, "enterprise_name": "恒达精密"}, PARK, uow
    )
    claim_id = str(uuid.uuid4())
    with pytest.raises(NotYetApplicable, match="A-101"):
        handlers.compute_settlement(request(claim_id), uow)
    assert uow.payloads("buyback_settlement_computed") == []
    assert uow.billing.settlement(claim_id) is None

    allocate_purchase(uow)
    handlers.compute_settlement(request(claim_id), uow)
    [computed] = uow.payloads("buyback_settlement_computed")
    # Nothing was paid: the down payment invoice and the balance are both netted.
    offsets = sorted((o["kind"], o["amount_fen"]) for o in computed["offsets"])
    assert ("purchase_balance", PRICE * 70 // 100) in offsets
    assert computed["net_fen"] <= 0, computed
