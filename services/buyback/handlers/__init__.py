"""Use cases of the buyback service: plain functions over a unit of work.

Each commits one transaction holding the state change, its outbox events and its
history rows. One module per idea; the service, the CLI and the tests call them as
``handlers.<use case>``:

* :mod:`.projection` — ``onboarding.events``: enterprises, units, production, releases;
* :mod:`.claims` — receipt, reviews, settlement, withdrawal;
* :mod:`.deadlines` — the deadline timer;
* :mod:`.queries` — operators' read-only views;
* :mod:`.publishing` — staging events in the outbox and steps in the history;
* :mod:`.trust` — who a money-moving event is believed from.
"""

from services.buyback.handlers.claims import (
    record_netting,
    record_settlement,
    refuse_release,
    request_claim,
    resolve_review,
    withdraw_by_enterprise,
    withdraw_claim,
)
from services.buyback.handlers.deadlines import DeadlineScan, scan_deadlines
from services.buyback.handlers.projection import (
    admit_enterprise,
    allocate_units,
    release_units,
    start_production,
)
from services.buyback.handlers.queries import claim_history, claim_view, exposure, list_claims
from services.buyback.handlers.trust import publisher, require_owner

__all__ = [
    "DeadlineScan",
    "admit_enterprise",
    "allocate_units",
    "claim_history",
    "claim_view",
    "exposure",
    "list_claims",
    "publisher",
    "record_netting",
    "record_settlement",
    "refuse_release",
    "release_units",
    "request_claim",
    "require_owner",
    "resolve_review",
    "scan_deadlines",
    "start_production",
    "withdraw_by_enterprise",
    "withdraw_claim",
]
