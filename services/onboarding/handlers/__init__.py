"""Use cases of the onboarding service: plain functions over a unit of work.

Each takes what it needs as parameters (``uow``, the calendar) and commits one
transaction holding the state change, its outbox events and its history rows. One
module per idea; the service (``service.py``), the CLI and the tests call them as
``handlers.<use case>``:

* :mod:`.applications` — receipt, documents, withdrawal (portal events and RPC);
* :mod:`.review` — the joint review and admission;
* :mod:`.enterprises` — admitted enterprises: buyback, production, leases, officers;
* :mod:`.deadlines` — the deadline timer (suspension, escalation, lease end);
* :mod:`.queries` — operators' read-only views;
* :mod:`.parks` — loading park files;
* :mod:`.publishing` and :mod:`.failures` — what the others share: staging events in
  the outbox, and reporting a failure to an event consumer or an RPC caller.
"""

from services.onboarding.handlers.applications import (
    receive_application,
    supply_documents,
    withdraw_application,
    withdraw_by_applicant,
)
from services.onboarding.handlers.deadlines import DeadlineScan, process_deadlines
from services.onboarding.handlers.enterprises import (
    end_lease,
    log_service_visit,
    reassign_chief_service_officer,
    record_production_start,
    settle_buyback,
)
from services.onboarding.handlers.parks import load_parks
from services.onboarding.handlers.publishing import publish
from services.onboarding.handlers.queries import (
    application_history,
    list_applications,
    officer_workload,
    query_units,
)
from services.onboarding.handlers.review import decide_review

__all__ = [
    "DeadlineScan",
    "application_history",
    "decide_review",
    "end_lease",
    "list_applications",
    "load_parks",
    "log_service_visit",
    "officer_workload",
    "process_deadlines",
    "publish",
    "query_units",
    "reassign_chief_service_officer",
    "receive_application",
    "record_production_start",
    "settle_buyback",
    "supply_documents",
    "withdraw_application",
    "withdraw_by_applicant",
]
