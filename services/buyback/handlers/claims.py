"""Claims: receipt and eligibility, reviews, settlement, withdrawal (events and RPC)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import structlog

from services.buyback.domain.claims import Claim, ClaimRequest
from services.buyback.domain.eligibility import awaiting_onboarding, check_eligibility
from services.buyback.domain.errors import DomainError, Refused
from services.buyback.domain.events import ClaimUnit, ClaimWithdrawalRefused, Offset
from services.buyback.domain.reasons import ReasonCode
from services.buyback.domain.window import last_day_of_window, park_date
from services.buyback.exceptions import IllegalTransition, NotFound
from services.buyback.handlers.publishing import publish, store
from services.buyback.handlers.queries import claim_view
from services.buyback.handlers.trust import require_owner
from services.buyback.unit_of_work import UNKNOWN_ENTERPRISE_GRACE, AbstractBuybackUnitOfWork
from shared.messaging.errors import PermanentFailure, TransientFailure
from shared.settings import MessagingSettings

log = structlog.get_logger(__name__)

#: How far back the portal's ``occurred_at`` is believed: the inbox retention (30 days),
#: the longest a message can honestly wait in retries and replays. Older: the receipt.
BACKDATING_LIMIT = timedelta(days=MessagingSettings().inbox_retention_days)


def received_at(occurred_at: datetime | None, now: datetime) -> datetime:
    """When a claim counts as received: the portal's ``occurred_at`` (when the enterprise
    submitted it), never later than this service's receipt — so retries and a broker
    outage never cost the enterprise its window — and a time in the future is not
    believed; nor is one more than :data:`BACKDATING_LIMIT` before the receipt (no
    message waits that long): the receipt counts then."""
    if occurred_at is None or occurred_at < now - BACKDATING_LIMIT:
        return now
    return min(occurred_at, now)


def _in_grace(occurred_at: datetime | None, now: datetime, grace: timedelta) -> bool:
    return occurred_at is None or now - occurred_at <= grace


def request_claim(
    payload: Mapping[str, Any],
    park_id: str | None,
    uow: AbstractBuybackUnitOfWork,
    *,
    occurred_at: datetime | None = None,
    grace: timedelta = UNKNOWN_ENTERPRISE_GRACE,
    sender: str | None = None,
) -> Claim | None:
    """``portal/buyback_requested``: ``claim_filed`` + ``claim_review_requested``, or
    ``claim_ineligible`` with every reason. Idempotent on ``claim_id``: the same request
    again has no effect; other content under the same id is refused
    (``claim_duplicate_refused``, ``conflicting_duplicate``).

    An answer that an onboarding event in flight could still change is not given yet
    (:func:`~services.buyback.domain.eligibility.awaiting_onboarding`): an enterprise the
    projection does not know, or one with no purchased unit or no production start yet,
    is retried while the request is at most ``grace`` old (its ``enterprise_admitted``,
    ``units_allocated`` or ``production_started`` may be on another queue still), then
    answered ``unknown_enterprise``, ``no_purchased_units`` or ``production_not_started``.
    Any final reason (``window_expired``, ``claim_open``, a production start after the
    claim) is answered at once, with every reason found.

    The claim is the enterprise's park's (the projection's), never the envelope's: a
    request whose envelope names another park is ``unknown_enterprise`` at once (the
    enterprise is not known there). An enterprise whose park has no park file is
    refused (dead letter ``unknown_park``), never given default deadlines."""
    request = ClaimRequest(
        claim_id=payload["claim_id"],
        enterprise_id=payload["enterprise_id"],
        reason=payload["reason"],
        evidence=tuple(payload["evidence"]),
    )
    with uow:
        now = uow.clock()
        existing = uow.claims.get(request.claim_id)
        if existing is not None:
            if existing.request.same_as(request):
                return None
            publish(uow, [existing.refuse_duplicate(request, now)], sender=sender)
            uow.commit()
            return None
        # The holding's row lock serialises two claims of one enterprise (one open claim).
        holding = uow.holdings.get(request.enterprise_id, lock=True)
        if holding is not None and not holding.admitted and not holding.units:
            holding = None  # only a production start seen: not known as admitted yet
        received_on = park_date(received_at(occurred_at, now))
        if holding is not None and not uow.rules.knows(holding.park_id):
            raise PermanentFailure(
                f"unknown_park: enterprise {request.enterprise_id}'s park "
                f"{holding.park_id!r} has no park file in PARKS_DIR, so its buyback rules are "
                "not known; add the park file and replay this message"
            )
        open_claim = uow.claims.open_claim_of(request.enterprise_id)
        reasons = check_eligibility(
            request.enterprise_id,
            holding,
            received_on,
            open_claim.claim_id if open_claim else None,
            claimed_park=park_id,
        )
        if awaiting_onboarding(holding, reasons) and _in_grace(occurred_at, now, grace):
            raise TransientFailure(
                f"enterprise {request.enterprise_id}: {', '.join(r.code for r in reasons)} "
                "(yet): retried, as its enterprise_admitted, units_allocated or "
                "production_started may still be in flight"
            )
        # The enterprise's park — or, for an enterprise unknown (there), the envelope's:
        # the portal that asked hears the answer, and nothing of another park is told.
        unknown = [r.code for r in reasons] == [ReasonCode.UNKNOWN_ENTERPRISE]
        claim_park = park_id if holding is None or unknown else holding.park_id
        if reasons:
            claim = Claim.ineligible(
                request, park_id=claim_park, reasons=reasons, received_on=received_on, now=now
            )
        else:
            claim = Claim.file(
                request,
                park_id=claim_park,
                units=[ClaimUnit(u.unit_id, u.price_fen) for u in holding.purchased_units()],
                received_on=received_on,
                window_ends_on=last_day_of_window(holding.production_started_on),
                now=now,
                deadlines=uow.rules.deadlines(claim_park),
            )
        store(uow, claim, new=True, sender=sender)
        uow.commit()
    return claim


def _claim_or_wait(uow: AbstractBuybackUnitOfWork, claim_id: str, what: str) -> Claim:
    claim = uow.claims.get(claim_id, lock=True)
    if claim is None:
        raise TransientFailure(
            f"{what} for claim {claim_id}, which is unknown (yet): its buyback_requested may "
            "still be in flight"
        )
    return claim


def _same_enterprise(claim: Claim, enterprise_id: str, what: str) -> None:
    if claim.enterprise_id != enterprise_id:
        raise PermanentFailure(
            f"enterprise_mismatch: {what} names enterprise {enterprise_id}, but claim "
            f"{claim.claim_id} is enterprise {claim.enterprise_id}'s"
        )


def _step(
    uow: AbstractBuybackUnitOfWork,
    payload: Mapping[str, Any],
    what: str,
    event_type: str,
    sender: str | None,
    step: Callable[[Claim, datetime], bool],
) -> bool:
    """One step of a claim on another service's event, the same shape for each: the
    claim locked (or a transient failure: its request may be in flight), the event's
    enterprise checked against the claim's, the domain step, and the claim stored with
    its events only when it changed. A step the domain refuses is a dead letter with its
    code; an escalation is logged as well (the operator's case)."""
    with uow:
        now = uow.clock()
        claim = _claim_or_wait(uow, payload["claim_id"], what)
        _same_enterprise(claim, payload["enterprise_id"], event_type)
        try:
            changed = step(claim, now)
        except DomainError as error:
            raise PermanentFailure(f"{error.code}: {error.message}") from None
        for event in claim.events:
            if event.event_type == "claim_escalated":
                log.warning(
                    "claim escalated",
                    claim_id=claim.claim_id,
                    stage=event.stage,
                    reason=event.reason,
                )
        if changed:
            store(uow, claim, sender=sender)
            uow.commit()
    return changed


def resolve_review(
    payload: Mapping[str, Any],
    uow: AbstractBuybackUnitOfWork,
    *,
    sender: str | None,
    own_user: str | None = None,
) -> bool:
    """``ticketing/ticket_resolved`` of a claim's review: recorded once per review, with
    its verified sender. Not a review (no ``claim_id``): not this service's business, no
    effect. From anyone but ticketing (``park-cli``): dead letter ``untrusted_sender``."""
    if payload.get("claim_id") is None:
        return False
    sender = require_owner("ticketing", "ticket_resolved", sender, own_user)
    return _step(
        uow,
        payload,
        f"{payload['review']} review resolved",
        "ticket_resolved",
        sender,
        lambda claim, now: claim.resolve_review(
            payload["review"],
            payload["outcome"],
            tuple(payload["reasons"]),
            ticket_id=payload["ticket_id"],
            firm_id=payload["firm_id"],
            now=now,
            deadlines=uow.rules.deadlines(claim.park_id),
        ),
    )


def record_settlement(
    payload: Mapping[str, Any],
    uow: AbstractBuybackUnitOfWork,
    *,
    sender: str | None,
    own_user: str | None = None,
) -> bool:
    """``billing/buyback_settlement_computed``: record gross, offsets, net and payout;
    ``claim_settled``. A second answer with the same figures: no effect. From anyone
    but billing (``park-cli``): dead letter ``untrusted_sender``."""
    sender = require_owner("billing", "buyback_settlement_computed", sender, own_user)
    offsets = tuple(Offset(o["kind"], o["invoice_id"], o["amount_fen"]) for o in payload["offsets"])
    return _step(
        uow,
        payload,
        "settlement computed",
        "buyback_settlement_computed",
        sender,
        lambda claim, now: claim.settle(
            payload["gross_fen"],
            offsets,
            payload["net_fen"],
            now=now,
            deadlines=uow.rules.deadlines(claim.park_id),
        ),
    )


def record_netting(
    payload: Mapping[str, Any],
    uow: AbstractBuybackUnitOfWork,
    *,
    sender: str | None,
    own_user: str | None = None,
) -> bool:
    """``billing/buyback_netted``: billing booked the settlement. With all the units
    released, the claim closes; figures other than those recorded are escalated
    (``netting_mismatch``). From anyone but billing: dead letter ``untrusted_sender``."""
    sender = require_owner("billing", "buyback_netted", sender, own_user)
    return _step(
        uow,
        payload,
        "settlement netted",
        "buyback_netted",
        sender,
        lambda claim, now: claim.record_netting(
            gross_fen=payload["gross_fen"],
            net_fen=payload["net_fen"],
            payout_fen=payload["payout_fen"],
            still_owed_fen=payload["still_owed_fen"],
            settled_on=payload["settled_on"],
            now=now,
        ),
    )


def refuse_release(
    payload: Mapping[str, Any], uow: AbstractBuybackUnitOfWork, *, sender: str | None
) -> bool:
    """``onboarding/release_refused``: onboarding would not return the claim's units;
    the claim is ``stuck`` and escalated (``release_refused``) at once."""
    return _step(
        uow,
        payload,
        "release refused",
        "release_refused",
        sender,
        lambda claim, now: claim.refuse_release(
            list(payload["units"]), [dict(r) for r in payload["reasons"]], now
        ),
    )


def withdraw_by_enterprise(
    payload: Mapping[str, Any],
    park_id: str | None,
    uow: AbstractBuybackUnitOfWork,
    *,
    occurred_at: datetime | None = None,
    grace: timedelta = UNKNOWN_ENTERPRISE_GRACE,
    sender: str | None = None,
) -> bool:
    """``portal/buyback_withdrawn``: ``claim_withdrawn``, or ``claim_withdrawal_refused``
    (``already_settled``, ``claim_not_open``, ``enterprise_mismatch``; ``unknown_claim``
    once the grace for its ``buyback_requested`` to arrive has passed)."""
    claim_id, enterprise_id = payload["claim_id"], payload["enterprise_id"]
    with uow:
        now = uow.clock()
        claim = uow.claims.get(claim_id, lock=True)
        if claim is None:
            if _in_grace(occurred_at, now, grace):
                raise TransientFailure(
                    f"withdrawal of claim {claim_id}, which is unknown (yet): its "
                    "buyback_requested may still be in flight"
                )
            refusal = ClaimWithdrawalRefused(
                occurred_at=now,
                park_id=park_id,
                claim_id=claim_id,
                enterprise_id=enterprise_id,
                code="unknown_claim",
                message=f"no claim {claim_id} was received",
            )
            publish(uow, [refusal], sender=sender)
            uow.commit()
            return False
        if claim.enterprise_id != enterprise_id:
            # Addressed to the enterprise that asked (the portal routes by it), naming
            # neither the claim's owner nor its state.
            refusal = ClaimWithdrawalRefused(
                occurred_at=now,
                park_id=park_id if park_id is not None else claim.park_id,
                claim_id=claim_id,
                enterprise_id=enterprise_id,
                code="enterprise_mismatch",
                message=f"claim {claim_id} is not enterprise {enterprise_id}'s to withdraw",
            )
            publish(uow, [refusal], sender=sender)
            uow.commit()
            return False
        try:
            changed = claim.withdraw(payload["reason"], by="enterprise", operator=None, now=now)
        except Refused as refusal:
            publish(uow, [claim.refuse_withdrawal(refusal, now)], sender=sender)
            uow.commit()
            return False
        if changed:
            store(uow, claim, sender=sender)
            uow.commit()
    return changed


def withdraw_claim(
    claim_id: str, reason: str, operator: str, uow: AbstractBuybackUnitOfWork
) -> dict[str, Any]:
    """The operator's withdrawal (RPC / CLI): the claim as it is now; ``[not_found]`` or
    the refusal's code (``already_settled``, ``claim_not_open``) otherwise."""
    with uow:
        now = uow.clock()
        claim = uow.claims.get(claim_id, lock=True)
        if claim is None:
            raise NotFound(f"no claim {claim_id}")
        try:
            changed = claim.withdraw(reason, by="operator", operator=operator, now=now)
        except Refused as refusal:
            raise IllegalTransition(refusal.message, code=refusal.code) from None
        if changed:
            store(uow, claim)
            uow.commit()
        view = claim_view(claim)
    return view
