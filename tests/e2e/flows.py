"""Steps of the buyback flows the end-to-end tests share, each driven from outside the
services (portal, departments, bank, firms, operator RPCs) and each waiting for what the
services answer."""

from __future__ import annotations

import uuid
from datetime import date

from tests.e2e.conftest import Enterprise, ParkWorld, ResidentFirm, park_noon
from tests.support.broker import wait_for

#: The claim events of a claim that completes, in the order they happen.
COMPLETED_CLAIM = [
    "claim_filed",
    "claim_review_requested",
    "claim_approved",
    "settlement_requested",
    "claim_settled",
    "claim_closed",
]


def producing_enterprise(
    world: ParkWorld, units, started_on: date, *, tenure: str = "purchase"
) -> Enterprise:
    """Admitted on the 1st of the month of ``started_on`` (onboarding refuses a start
    before the admission), then production recorded on ``started_on``."""
    world.clock.now = park_noon(started_on.year, started_on.month, 1)
    enterprise = world.admit(units, tenure=tenure)
    world.clock.park_day(started_on.year, started_on.month, started_on.day)
    world.start_production(enterprise, started_on)
    return enterprise


def claim_answer(world: ParkWorld, claim_id: str) -> dict:
    """The buyback service's answer to a request (the envelope): ``claim_filed`` or
    ``claim_ineligible``."""

    def answered():
        return [
            e
            for e in world.events_where("buyback", claim_id=claim_id)
            if e["type"] in ("claim_filed", "claim_ineligible")
        ]

    [answer] = wait_for(answered, timeout=30, message=f"an answer to claim {claim_id}")
    return answer


def answer_past_the_grace(world: ParkWorld, claim_id: str) -> dict:
    """The answer to a claim that an onboarding event still in flight could change (no
    purchased unit, no production start yet): the service retries it while the request is
    at most the grace (``UNKNOWN_ENTERPRISE_GRACE``, 30 minutes) old, so the world's clock
    moves 31 minutes on and the answer comes."""
    world.clock.advance(minutes=31)
    return claim_answer(world, claim_id)


def filed_claim(world: ParkWorld, enterprise: Enterprise) -> str:
    """A claim requested now and filed (its review asked of ticketing)."""
    claim_id = world.request_buyback(enterprise)
    answer = claim_answer(world, claim_id)
    assert answer["type"] == "claim_filed", answer["payload"]
    world.wait_for("buyback", "claim_review_requested", claim_id=claim_id)
    return claim_id


def complete_review(
    firm: ResidentFirm, ticket_id: str, outcome: str, reasons: tuple[str, ...] = ()
) -> dict:
    """The firm reports its review done (``approve`` | ``reject``), as any firm reports."""
    return firm.report(
        "work_completed",
        ticket_id,
        outcome=outcome,
        reasons=list(reasons),
        note="回购审查意见",
    )


def approve_both_reviews(world: ParkWorld, firms: dict[str, ResidentFirm], claim_id: str) -> None:
    tickets = world.review_tickets(claim_id)
    for review in ("legal", "finance"):
        complete_review(firms[review], tickets[review], "approve")


def pay_down_payment(world: ParkWorld, enterprise: Enterprise) -> dict:
    """The bank reports the down-payment invoice (issued on allocation) paid in full."""
    [invoice] = world.wait_for("billing", "invoice_issued", enterprise_id=enterprise.enterprise_id)
    payload = invoice["payload"]
    world.publish(
        "bank",
        "payment_received",
        {
            "bank_txn_id": f"BANK-{payload['number']}",
            "payer_uscc": payload["uscc"],
            "amount_fen": payload["total_fen"],
            "received_at": world.clock(),
            "reference": payload["number"],
        },
    )
    world.wait_for("billing", "invoice_paid", invoice_id=payload["invoice_id"])
    return payload


def one_of_each(world: ParkWorld, source: str, claim_id: str) -> dict[str, int]:
    """type → how many distinct events (by ``event_id``) ``source`` published about the
    claim."""
    counts: dict[str, int] = {}
    for event in world.events_where(source, claim_id=claim_id):
        counts[event["type"]] = counts.get(event["type"], 0) + 1
    return counts


def onboarding_story(
    prices: dict[str, int], started_on: str, name: str = "郑州影子机械有限公司"
) -> tuple[Enterprise, list[tuple[str, dict]]]:
    """An enterprise onboarding's events tell of — admitted, bought ``prices`` (unit →
    recorded price), started production on ``started_on`` — as those events' types and
    payloads, in the order onboarding publishes them. Sent by a test as onboarding's own
    broker user, they reach every subscriber; onboarding itself never sold the units."""
    enterprise_id = f"ent-{uuid.uuid4().hex[:12]}"
    application_id = str(uuid.uuid4())
    contract_id = str(uuid.uuid4())
    units = [
        {
            "unit_id": unit_id,
            "area_m2": 300,
            "tenure": "purchase",
            "price_fen": price_fen,
            "monthly_rent_fen": None,
            "monthly_property_fee_fen": 45_000,
            "contract_id": contract_id,
        }
        for unit_id, price_fen in prices.items()
    ]
    events = [
        (
            "enterprise_admitted",
            {
                "application_id": application_id,
                "enterprise_id": enterprise_id,
                "enterprise_name": name,
                "uscc": "91410100000000019L",
                "industry_code": "C3464",
                "tenure": "purchase",
                "supply_chain_partner": False,
                "environmental_review_required": False,
                "chief_service_officer": "cso-01",
            },
        ),
        (
            "units_allocated",
            {
                "application_id": application_id,
                "enterprise_id": enterprise_id,
                "contract_id": contract_id,
                "tenure": "purchase",
                "units": units,
                "lease_start": None,
                "lease_end": None,
            },
        ),
        (
            "production_started",
            {
                "enterprise_id": enterprise_id,
                "application_id": application_id,
                "started_on": started_on,
            },
        ),
    ]
    return Enterprise(enterprise_id, application_id, tuple(units)), events
