"""A buyback claim: a process manager whose state is persisted at every step.

States (docs/buyback.md has the diagram)::

    ineligible                         (terminal: claim_ineligible)
    under_review  → awaiting_settlement → awaiting_release → closed
         ↓    ↘ rejected                     ↓                ↑
         ↓         (any review rejects)      stuck  ──────────┘ (the last of units_released
    withdrawn  ← (enterprise or operator,                         and buyback_netted, late)
                  before settlement)

``awaiting_release`` waits for two things, in any order, each with its own deadline:
onboarding's ``units_released`` of this claim's units and billing's ``buyback_netted``
(the settlement booked). The claim closes only when both arrived. A missed deadline, a
release onboarding refused (``release_refused``) or a netting whose figures differ from
the settlement recorded makes it ``stuck`` (or, for the figures, escalated) at once.

Every method is idempotent: a step applied again (a duplicate resolution, a second
settlement with the same figures, a second release) changes nothing and returns False.
What can never apply (a settlement that was never requested, figures that disagree with
the claim) raises a :class:`~.errors.Conflict`. Every wait has a deadline
(``next_due_at``) and :meth:`Claim.check_deadlines` says what happens when it passes.
The events caused are collected in ``events``; ``notes`` are steps that cause no event
(a review recorded), kept in the claim's history.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

from services.buyback.domain import events as ev
from services.buyback.domain.errors import Conflict, Refused
from services.buyback.domain.reasons import Reason
from services.buyback.domain.window import park_date

REVIEWS = ("legal", "finance")
APPROVE, REJECT = "approve", "reject"


class ClaimState(StrEnum):
    INELIGIBLE = "ineligible"
    UNDER_REVIEW = "under_review"
    AWAITING_SETTLEMENT = "awaiting_settlement"
    AWAITING_RELEASE = "awaiting_release"
    STUCK = "stuck"
    CLOSED = "closed"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


OPEN_STATES = frozenset(
    {
        ClaimState.UNDER_REVIEW,
        ClaimState.AWAITING_SETTLEMENT,
        ClaimState.AWAITING_RELEASE,
        ClaimState.STUCK,
    }
)
WITHDRAWABLE = frozenset({ClaimState.UNDER_REVIEW, ClaimState.AWAITING_SETTLEMENT})
SETTLED_STATES = frozenset({ClaimState.AWAITING_RELEASE, ClaimState.STUCK, ClaimState.CLOSED})


@dataclass(frozen=True)
class Deadlines:
    """How long each wait may last (the park's ``buyback:`` section) and the calendar
    arithmetic to place them: ``add_business_days(instant, days)`` ends at 24:00 park
    time of the last business day (``shared.business_calendar``)."""

    review_deadline_days: int
    settlement_deadline_hours: int
    release_deadline_days: int
    add_business_days: Callable[[datetime, int], datetime]
    netting_deadline_hours: int = 24

    def review_due(self, start: datetime) -> datetime:
        return self.add_business_days(start, self.review_deadline_days)

    def settlement_due(self, start: datetime) -> datetime:
        return start + timedelta(hours=self.settlement_deadline_hours)

    def release_due(self, start: datetime) -> datetime:
        return self.add_business_days(start, self.release_deadline_days)

    def netting_due(self, start: datetime) -> datetime:
        return start + timedelta(hours=self.netting_deadline_hours)


@dataclass(frozen=True)
class ClaimRequest:
    """What ``portal.events/buyback_requested`` asks (the content compared for duplicates)."""

    claim_id: str
    enterprise_id: str
    reason: str
    evidence: tuple[str, ...]

    def same_as(self, other: ClaimRequest) -> bool:
        return (self.enterprise_id, self.reason, self.evidence) == (
            other.enterprise_id,
            other.reason,
            other.evidence,
        )


@dataclass
class ReviewOutcome:
    review: str
    outcome: str
    reasons: tuple[str, ...]
    ticket_id: str
    firm_id: str
    resolved_at: datetime


@dataclass
class Settlement:
    gross_fen: int
    offsets: tuple[ev.Offset, ...]
    net_fen: int
    settled_on: date

    @property
    def payout_fen(self) -> int:
        """What the park pays: the net if positive; a negative net is still owed by the
        enterprise (billing keeps it as a receivable) and the buyback completes."""
        return max(self.net_fen, 0)


@dataclass
class Note:
    """A step of the claim that causes no event (kept in its history)."""

    step: str
    at: datetime
    detail: dict[str, Any]


@dataclass
class Claim:
    request: ClaimRequest
    park_id: str | None
    state: ClaimState
    received_on: date
    filed_at: datetime
    units: tuple[ev.ClaimUnit, ...] = ()
    window_ends_on: date | None = None
    ineligible_reasons: tuple[Reason, ...] = ()
    reviews: dict[str, ReviewOutcome] = field(default_factory=dict)
    settlement_requests: int = 0
    settlement: Settlement | None = None
    released_units: tuple[str, ...] = ()
    release_due_at: datetime | None = None
    netting: dict[str, Any] | None = None
    netting_due_at: datetime | None = None
    release_refusal: dict[str, Any] | None = None
    withdrawal: dict[str, Any] | None = None
    ignored_settlement: dict[str, int] | None = None
    escalated: tuple[str, ...] = ()
    next_due_at: datetime | None = None
    updated_at: datetime | None = None
    events: list[ev.DomainEvent] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)

    # -- identity ---------------------------------------------------------------------------

    @property
    def claim_id(self) -> str:
        return self.request.claim_id

    @property
    def enterprise_id(self) -> str:
        return self.request.enterprise_id

    @property
    def gross_fen(self) -> int:
        return sum(unit.price_fen for unit in self.units)

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    def _ids(self, now: datetime) -> dict[str, Any]:
        return {
            "occurred_at": now,
            "park_id": self.park_id,
            "claim_id": self.claim_id,
            "enterprise_id": self.enterprise_id,
        }

    def _note(self, step: str, now: datetime, **detail: Any) -> None:
        self.notes.append(Note(step, now, detail))

    # -- filing -----------------------------------------------------------------------------

    @classmethod
    def file(
        cls,
        request: ClaimRequest,
        *,
        park_id: str | None,
        units: list[ev.ClaimUnit],
        received_on: date,
        window_ends_on: date,
        now: datetime,
        deadlines: Deadlines,
    ) -> Claim:
        """An eligible claim: ``claim_filed`` and ``claim_review_requested`` (legal and
        finance) in one step; the review deadline starts now."""
        if not units:
            raise ValueError("an eligible claim has purchased units")
        claim = cls(
            request=request,
            park_id=park_id,
            state=ClaimState.UNDER_REVIEW,
            received_on=received_on,
            filed_at=now,
            units=tuple(sorted(units, key=lambda u: u.unit_id)),
            window_ends_on=window_ends_on,
            next_due_at=deadlines.review_due(now),
            updated_at=now,
        )
        claim.events += [
            ev.ClaimFiled(
                **claim._ids(now),
                reason=request.reason,
                evidence=request.evidence,
                received_on=received_on,
                window_ends_on=window_ends_on,
                units=claim.units,
                gross_fen=claim.gross_fen,
            ),
            ev.ClaimReviewRequested(
                **claim._ids(now),
                reviews=REVIEWS,
                reason=request.reason,
                evidence=request.evidence,
            ),
        ]
        return claim

    @classmethod
    def ineligible(
        cls,
        request: ClaimRequest,
        *,
        park_id: str | None,
        reasons: list[Reason],
        received_on: date,
        now: datetime,
    ) -> Claim:
        """A claim refused on receipt (kept, so the same request again has no effect)."""
        if not reasons:
            raise ValueError("an ineligible claim has reasons")
        claim = cls(
            request=request,
            park_id=park_id,
            state=ClaimState.INELIGIBLE,
            received_on=received_on,
            filed_at=now,
            ineligible_reasons=tuple(reasons),
            updated_at=now,
        )
        claim.events.append(ev.ClaimIneligible(**claim._ids(now), reasons=tuple(reasons)))
        return claim

    def refuse_duplicate(self, other: ClaimRequest, now: datetime) -> ev.ClaimDuplicateRefused:
        """``other`` reuses this claim's id with other content: refused, this claim
        unchanged. The event names the enterprise the duplicate named, and says nothing of
        the claim's owner or state (the duplicate may come from another enterprise)."""
        return ev.ClaimDuplicateRefused(
            occurred_at=now,
            park_id=self.park_id,
            claim_id=self.claim_id,
            enterprise_id=other.enterprise_id,
            reasons=(
                Reason(
                    "conflicting_duplicate",
                    f"claim {self.claim_id} was received already with other content; "
                    "it is unchanged",
                    "claim_id",
                ),
            ),
        )

    # -- review -----------------------------------------------------------------------------

    def resolve_review(
        self,
        review: str,
        outcome: str,
        reasons: tuple[str, ...],
        *,
        ticket_id: str,
        firm_id: str,
        now: datetime,
        deadlines: Deadlines,
    ) -> bool:
        """Record one review's outcome, once. Both approve → ``claim_approved`` and
        ``settlement_requested``; any rejection → ``claim_rejected``. A resolution after
        the claim left review (withdrawn, already rejected) is recorded, nothing more."""
        if review not in REVIEWS:
            raise Conflict("unknown_review", f"claim {self.claim_id} has no {review!r} review")
        if outcome not in (APPROVE, REJECT):
            raise Conflict(
                "not_a_review_outcome",
                f"a review resolves with approve or reject, not {outcome!r}",
            )
        if self.state is ClaimState.INELIGIBLE:
            raise Conflict(
                "review_of_ineligible_claim",
                f"claim {self.claim_id} was ineligible: no review was requested",
            )
        if review in self.reviews:
            return False
        self.reviews[review] = ReviewOutcome(review, outcome, reasons, ticket_id, firm_id, now)
        self._note("review_resolved", now, review=review, outcome=outcome, reasons=list(reasons))
        self.updated_at = now
        if self.state is not ClaimState.UNDER_REVIEW:
            return True
        if outcome == REJECT:
            rejected = tuple(r for r in REVIEWS if r in self.reviews and self._rejects(r))
            self.state = ClaimState.REJECTED
            self.next_due_at = None
            self.events.append(
                ev.ClaimRejected(
                    **self._ids(now),
                    rejected_by=rejected,
                    reasons=tuple(f"{review}: {text}" for text in reasons) or (f"{review}: —",),
                )
            )
        elif all(r in self.reviews for r in REVIEWS):
            self.state = ClaimState.AWAITING_SETTLEMENT
            self.events.append(ev.ClaimApproved(**self._ids(now), reviews=REVIEWS))
            self._request_settlement(now, deadlines)
        return True

    def _rejects(self, review: str) -> bool:
        return self.reviews[review].outcome == REJECT

    def _request_settlement(self, now: datetime, deadlines: Deadlines) -> None:
        self.settlement_requests += 1
        self.next_due_at = deadlines.settlement_due(now)
        self.events.append(
            ev.SettlementRequested(**self._ids(now), units=self.units, gross_fen=self.gross_fen)
        )

    # -- settlement -------------------------------------------------------------------------

    def settle(
        self,
        gross_fen: int,
        offsets: tuple[ev.Offset, ...],
        net_fen: int,
        *,
        now: datetime,
        deadlines: Deadlines,
    ) -> bool:
        """Billing computed the settlement: record it and its payout, ``claim_settled``
        (``settled_on`` the park date), and wait for the units' release."""
        if self.state in SETTLED_STATES:
            recorded = self.settlement
            if recorded and (recorded.gross_fen, recorded.net_fen, recorded.offsets) == (
                gross_fen,
                net_fen,
                offsets,
            ):
                return False
            was = f"gross {recorded.gross_fen} net {recorded.net_fen}" if recorded else "?"
            raise Conflict(
                "settlement_conflict",
                f"claim {self.claim_id} was settled at {was} fen; billing now says gross "
                f"{gross_fen} net {net_fen}",
            )
        if self.state is ClaimState.WITHDRAWN and self.settlement_requests:
            # The claim was withdrawn while billing computed: nothing is paid.
            if self.ignored_settlement is not None:
                return False
            self.ignored_settlement = {"gross_fen": gross_fen, "net_fen": net_fen}
            self._note("settlement_after_withdrawal", now, gross_fen=gross_fen, net_fen=net_fen)
            self.updated_at = now
            return True
        if self.state is not ClaimState.AWAITING_SETTLEMENT:
            raise Conflict(
                "settlement_not_requested",
                f"claim {self.claim_id} is {self.state}: no settlement was requested",
            )
        if gross_fen != self.gross_fen:
            raise Conflict(
                "settlement_conflict",
                f"claim {self.claim_id} asked for gross {self.gross_fen} fen (the units' "
                f"recorded prices); billing computed {gross_fen}",
            )
        self.settlement = Settlement(gross_fen, offsets, net_fen, park_date(now))
        self.state = ClaimState.AWAITING_RELEASE
        self.release_due_at = deadlines.release_due(now)
        self.netting_due_at = deadlines.netting_due(now)
        self.next_due_at = min(self.release_due_at, self.netting_due_at)
        self.updated_at = now
        self._note(
            "settlement_recorded",
            now,
            gross_fen=gross_fen,
            net_fen=net_fen,
            payout_fen=self.settlement.payout_fen,
            offsets=[o.__dict__ for o in offsets],
        )
        self.events.append(
            ev.ClaimSettled(
                **self._ids(now),
                units=tuple(u.unit_id for u in self.units),
                gross_fen=gross_fen,
                net_fen=net_fen,
                settled_on=self.settlement.settled_on,
            )
        )
        return True

    # -- release and netting ----------------------------------------------------------------

    @property
    def all_released(self) -> bool:
        return set(self.released_units) == {u.unit_id for u in self.units}

    def record_release(self, unit_ids: list[str], now: datetime) -> bool:
        """Onboarding released units with this claim's id. The claim closes
        (``claim_closed``) once all its units are released and billing's netting is in."""
        if self.state is ClaimState.CLOSED:
            return False
        if self.state not in (ClaimState.AWAITING_RELEASE, ClaimState.STUCK):
            raise Conflict(
                "release_before_settlement",
                f"claim {self.claim_id} is {self.state}: units released for it before it was "
                "settled",
            )
        mine = {u.unit_id for u in self.units}
        foreign = sorted(set(unit_ids) - mine)
        if foreign:
            raise Conflict(
                "release_conflict",
                f"units {', '.join(foreign)} are not part of claim {self.claim_id}",
            )
        released = tuple(sorted(set(self.released_units) | set(unit_ids)))
        if released == self.released_units:
            return False
        self.released_units = released
        self.updated_at = now
        self._note("units_released", now, units=sorted(unit_ids))
        if self.all_released:
            self.release_due_at = None
        self._close_if_complete(now)
        return True

    def record_netting(
        self,
        *,
        gross_fen: int,
        net_fen: int,
        payout_fen: int,
        still_owed_fen: int,
        settled_on: date,
        now: datetime,
    ) -> bool:
        """Billing booked the settlement (``buyback_netted``). Figures that differ from the
        settlement recorded are escalated (``netting_mismatch``) for an operator; the same
        netting again has no effect, another one is a :class:`Conflict`."""
        figures = {
            "gross_fen": gross_fen,
            "net_fen": net_fen,
            "payout_fen": payout_fen,
            "still_owed_fen": still_owed_fen,
            "settled_on": settled_on.isoformat(),
        }
        if self.netting is not None:
            if self.netting == figures:
                return False
            raise Conflict(
                "netting_conflict",
                f"claim {self.claim_id} was netted already as {self.netting}; billing now "
                f"says {figures}",
            )
        if self.state not in SETTLED_STATES or self.settlement is None:
            raise Conflict(
                "netting_before_settlement",
                f"claim {self.claim_id} is {self.state}: billing netted a settlement it was "
                "never told of",
            )
        self.netting = figures
        self.netting_due_at = None
        self.updated_at = now
        self._note("settlement_netted", now, **figures)
        recorded = self.settlement
        expected = {
            "gross_fen": recorded.gross_fen,
            "net_fen": recorded.net_fen,
            "payout_fen": recorded.payout_fen,
            "still_owed_fen": max(-recorded.net_fen, 0),
            "settled_on": recorded.settled_on.isoformat(),
        }
        differing = [key for key in expected if expected[key] != figures[key]]
        if differing:
            self._escalate(
                "netting_mismatch",
                f"billing booked {', '.join(f'{k} {figures[k]}' for k in differing)}; the "
                f"claim recorded {', '.join(f'{k} {expected[k]}' for k in differing)}",
                now,
            )
        self._close_if_complete(now)
        return True

    def refuse_release(
        self, unit_ids: list[str], reasons: list[dict[str, Any]], now: datetime
    ) -> bool:
        """Onboarding refused to release the units (``release_refused``): the claim is
        ``stuck`` and escalated at once, not at the release deadline. Once."""
        if self.release_refusal is not None or self.state is ClaimState.CLOSED:
            return False
        if self.state not in (ClaimState.AWAITING_RELEASE, ClaimState.STUCK):
            raise Conflict(
                "release_before_settlement",
                f"claim {self.claim_id} is {self.state}: a release was refused for it before "
                "it was settled",
            )
        self.release_refusal = {"units": list(unit_ids), "reasons": reasons, "at": iso_utc(now)}
        self.state = ClaimState.STUCK
        self.release_due_at = None
        self.next_due_at = self._next_due()
        self.updated_at = now
        self._escalate(
            "release_refused",
            "stuck: onboarding refused to release units "
            f"{', '.join(unit_ids)}: " + "; ".join(r.get("message", "?") for r in reasons),
            now,
        )
        return True

    def _next_due(self) -> datetime | None:
        pending = [d for d in (self.release_due_at, self.netting_due_at) if d is not None]
        return min(pending) if pending else None

    def _close_if_complete(self, now: datetime) -> None:
        if not (self.all_released and self.netting is not None):
            self.next_due_at = self._next_due()
            return
        if self.state is ClaimState.STUCK:
            # A late release or netting: the claim was stuck (and escalated), now done.
            self._note("closed_after_stuck", now, escalated=list(self.escalated))
        self.state = ClaimState.CLOSED
        self.next_due_at = self.release_due_at = self.netting_due_at = None
        self.events.append(ev.ClaimClosed(**self._ids(now), units=self.released_units))

    # -- withdrawal -------------------------------------------------------------------------

    def withdraw(self, reason: str, *, by: str, operator: str | None, now: datetime) -> bool:
        """Withdraw before settlement (``claim_withdrawn``: ticketing cancels open
        reviews). Already withdrawn: no effect. Settled or finished: :class:`Refused`."""
        if self.state is ClaimState.WITHDRAWN:
            return False
        if self.state in SETTLED_STATES:
            settled_on = self.settlement.settled_on if self.settlement else "?"
            raise Refused(
                "already_settled",
                f"claim {self.claim_id} was settled on {settled_on}: a settled claim cannot "
                "be withdrawn",
            )
        if self.state not in WITHDRAWABLE:
            raise Refused(
                "claim_not_open",
                f"claim {self.claim_id} is {self.state}: there is nothing to withdraw",
            )
        self.state = ClaimState.WITHDRAWN
        self.next_due_at = None
        self.updated_at = now
        self.withdrawal = {"reason": reason, "by": by, "operator": operator, "at": iso_utc(now)}
        self.events.append(ev.ClaimWithdrawn(**self._ids(now), reason=reason))
        return True

    def refuse_withdrawal(self, refusal: Refused, now: datetime) -> ev.ClaimWithdrawalRefused:
        return ev.ClaimWithdrawalRefused(
            **self._ids(now), code=refusal.code, message=refusal.message
        )

    # -- deadlines --------------------------------------------------------------------------

    def check_deadlines(self, now: datetime, deadlines: Deadlines) -> bool:
        """Act on a passed deadline: the review escalated once; the settlement request
        sent again once, then escalated; a missing release makes the claim ``stuck`` and
        escalated. Returns whether anything happened."""
        if self.next_due_at is None or now < self.next_due_at:
            return False
        due = self.next_due_at
        self.next_due_at = None
        self.updated_at = now
        if self.state is ClaimState.UNDER_REVIEW:
            pending = [r for r in REVIEWS if r not in self.reviews]
            self._escalate(
                "review",
                f"review(s) {', '.join(pending)} not resolved within "
                f"{deadlines.review_deadline_days} business days (due {iso_utc(due)})",
                now,
            )
        elif self.state is ClaimState.AWAITING_SETTLEMENT:
            if self.settlement_requests < 2:
                self._note("settlement_requested_again", now, due=iso_utc(due))
                self._request_settlement(now, deadlines)
            else:
                self._escalate(
                    "settlement",
                    f"billing has not answered settlement_requested within "
                    f"{deadlines.settlement_deadline_hours} hours, twice (last due "
                    f"{iso_utc(due)})",
                    now,
                )
        elif self.state in (ClaimState.AWAITING_RELEASE, ClaimState.STUCK):
            self._check_release_and_netting(now, deadlines)
        return True

    def _check_release_and_netting(self, now: datetime, deadlines: Deadlines) -> None:
        if self.release_due_at is not None and self.release_due_at <= now:
            due, self.release_due_at = self.release_due_at, None
            self.state = ClaimState.STUCK
            waiting = [u.unit_id for u in self.units if u.unit_id not in self.released_units]
            self._escalate(
                "release",
                f"stuck: onboarding has not released units {', '.join(waiting)}"
                f" within {deadlines.release_deadline_days} business days of the settlement "
                f"(due {iso_utc(due)})",
                now,
            )
        if self.netting_due_at is not None and self.netting_due_at <= now:
            due, self.netting_due_at = self.netting_due_at, None
            self.state = ClaimState.STUCK
            self._escalate(
                "netting",
                f"stuck: billing has not booked the settlement (buyback_netted) within "
                f"{deadlines.netting_deadline_hours} hours of claim_settled (due {iso_utc(due)})",
                now,
            )
        self.next_due_at = self._next_due()

    def _escalate(self, stage: str, reason: str, now: datetime) -> None:
        if stage in self.escalated:
            return
        self.escalated = (*self.escalated, stage)
        self.events.append(ev.ClaimEscalated(**self._ids(now), stage=stage, reason=reason))


def iso_utc(value: datetime | None) -> str | None:
    """UTC with ``Z``, as the contract writes times (``2026-11-27T02:00:00Z``)."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
