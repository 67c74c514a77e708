"""Whether a claim may be filed (issue 11): every reason found, each with a message, and
whether the answer is final yet."""

from __future__ import annotations

from datetime import date

from services.buyback.domain.holdings import Holding
from services.buyback.domain.reasons import Reason, ReasonCode
from services.buyback.domain.window import last_day_of_window, tenth_anniversary, within_window


def check_eligibility(
    enterprise_id: str,
    holding: Holding | None,
    received_on: date,
    open_claim_id: str | None,
    *,
    claimed_park: str | None = None,
) -> list[Reason]:
    """The reasons a claim received on ``received_on`` (park date) is not eligible; empty
    when it is. An enterprise this service does not know — or does not know in
    ``claimed_park``, the park the request was sent for — is the only reason then given
    (nothing else about it can be judged, and nothing is said of its other park)."""
    if holding is not None and claimed_park is not None and holding.park_id != claimed_park:
        return [
            Reason(
                ReasonCode.UNKNOWN_ENTERPRISE,
                f"enterprise {enterprise_id} is not known to the buyback service in park "
                f"{claimed_park} (never admitted there)",
                "enterprise_id",
            )
        ]
    if holding is None:
        return [
            Reason(
                ReasonCode.UNKNOWN_ENTERPRISE,
                f"enterprise {enterprise_id} is not known to the buyback service "
                "(never admitted to the park)",
                "enterprise_id",
            )
        ]
    reasons: list[Reason] = []
    if not holding.purchased_units():
        leased = sorted(u.unit_id for u in holding.units.values() if not u.purchased)
        detail = f" (leased units are not eligible: {', '.join(leased)})" if leased else ""
        reasons.append(
            Reason(
                ReasonCode.NO_PURCHASED_UNITS,
                f"enterprise {enterprise_id} holds no purchased units{detail}",
                None,
            )
        )
    started = holding.production_started_on
    if started is None or started > received_on:
        reasons.append(
            Reason(
                ReasonCode.PRODUCTION_NOT_STARTED,
                f"enterprise {enterprise_id} has not started production in the park "
                f"(as of {received_on}); the ten-year window runs from the production start",
                None,
            )
        )
    elif not within_window(started, received_on):
        reasons.append(
            Reason(
                ReasonCode.WINDOW_EXPIRED,
                f"received on {received_on}: the ten-year window from the production start "
                f"on {started} ended on {last_day_of_window(started)} (the tenth anniversary, "
                f"{tenth_anniversary(started)}, is too late)",
                None,
            )
        )
    if open_claim_id is not None:
        reasons.append(
            Reason(
                ReasonCode.CLAIM_OPEN,
                f"enterprise {enterprise_id} already has an open claim {open_claim_id}",
                "claim_id",
            )
        )
    return reasons


def awaiting_onboarding(holding: Holding | None, reasons: list[Reason]) -> bool:
    """Whether every reason is one that an onboarding event still in flight could lift —
    so the answer is not final yet. Onboarding's events come on separate queues, in any
    order (DESIGN §5): an enterprise known as admitted may still have its
    ``units_allocated`` or ``production_started`` on the way. So: no enterprise known, no
    purchased unit yet, no production start yet. A production start known to be after
    the claim, an expired window, an open claim, an enterprise known in another park are
    final, and any of them makes the whole answer final (the claim fails whatever
    arrives)."""
    if not reasons:
        return False
    if holding is None:
        pending = {ReasonCode.UNKNOWN_ENTERPRISE}
    else:  # known (here, or in another park: final)
        pending = {ReasonCode.NO_PURCHASED_UNITS}
        if holding.production_started_on is None:
            pending.add(ReasonCode.PRODUCTION_NOT_STARTED)
    return all(reason.code in pending for reason in reasons)
