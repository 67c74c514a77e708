"""Builders of domain objects for the unit tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from services.buyback.domain.claims import Claim, ClaimRequest, Deadlines
from services.buyback.domain.events import ClaimUnit
from services.buyback.domain.holdings import HeldUnit, Holding

NOW = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)  # Friday 10:00 in Zhengzhou
CLAIM_ID = "6f1c2a8e-3b4d-4e5f-9a0b-1c2d3e4f5a6b"


def calendar_days(start: datetime, days: int) -> datetime:
    """A stand-in for the business calendar: plain days (the domain only calls it)."""
    return start + timedelta(days=days)


DEADLINES = Deadlines(
    review_deadline_days=10,
    settlement_deadline_hours=24,
    release_deadline_days=5,
    add_business_days=calendar_days,
)


def holding(
    enterprise_id: str = "ent-1",
    *,
    started_on: date | None = date(2020, 3, 1),
    units: tuple[HeldUnit, ...] = (
        HeldUnit("B07-2F-03", "purchase", 96_000_000, "c-1"),
        HeldUnit("B07-2F-04", "purchase", 96_000_000, "c-1"),
    ),
) -> Holding:
    return Holding(
        enterprise_id,
        park_id="aux-shangjie",
        admitted=True,
        production_started_on=started_on,
        units={u.unit_id: u for u in units},
    )


def request(claim_id: str = CLAIM_ID, enterprise_id: str = "ent-1", **overrides) -> ClaimRequest:
    values = {
        "claim_id": claim_id,
        "enterprise_id": enterprise_id,
        "reason": "订单骤减，连续两季亏损",
        "evidence": ("2026Q2财报.pdf", "银行流水.pdf"),
    }
    values.update(overrides)
    return ClaimRequest(**values)


def filed_claim(now: datetime = NOW) -> Claim:
    claim = Claim.file(
        request(),
        park_id="aux-shangjie",
        units=[ClaimUnit("B07-2F-03", 96_000_000), ClaimUnit("B07-2F-04", 96_000_000)],
        received_on=date(2026, 11, 27),
        window_ends_on=date(2030, 2, 28),
        now=now,
        deadlines=DEADLINES,
    )
    claim.events.clear()
    claim.notes.clear()
    return claim


def approved_claim(now: datetime = NOW) -> Claim:
    claim = filed_claim(now)
    for review in ("legal", "finance"):
        claim.resolve_review(
            review,
            "approve",
            (),
            ticket_id=f"t-{review}",
            firm_id="f",
            now=now,
            deadlines=DEADLINES,
        )
    claim.events.clear()
    claim.notes.clear()
    return claim


def settled_claim(now: datetime = NOW, net_fen: int = 150_000_000) -> Claim:
    from services.buyback.domain.events import Offset

    claim = approved_claim(now)
    offsets = (Offset("invoice", None, 192_000_000 - net_fen),) if net_fen != 192_000_000 else ()
    claim.settle(192_000_000, offsets, net_fen, now=now, deadlines=DEADLINES)
    claim.events.clear()
    claim.notes.clear()
    return claim
