"""SQLAlchemy 2 repositories of the onboarding service: rows ↔ domain objects.

One module per kind of thing stored, each with its abstract interface (what the use
cases and the unit tests' fakes rely on) beside its SQLAlchemy implementation:
:mod:`.parks`, :mod:`.units`, :mod:`.applications`, :mod:`.enterprises`,
:mod:`.history`. The unit of work imports them from here.

Locks: ``lock=True`` reads take ``SELECT … FOR UPDATE`` on PostgreSQL (SQLite serialises
writers instead). Units are always locked in ``unit_id`` order, so two applications racing
for overlapping units queue up instead of deadlocking.
"""

from services.onboarding.repository.applications import (
    AbstractApplicationRepository,
    ApplicationRepository,
)
from services.onboarding.repository.enterprises import (
    AbstractEnterpriseRepository,
    EnterpriseRepository,
)
from services.onboarding.repository.history import AbstractHistoryRepository, HistoryRepository
from services.onboarding.repository.parks import AbstractParkRepository, ParkRepository
from services.onboarding.repository.units import AbstractUnitRepository, UnitRepository

__all__ = [
    "AbstractApplicationRepository",
    "AbstractEnterpriseRepository",
    "AbstractHistoryRepository",
    "AbstractParkRepository",
    "AbstractUnitRepository",
    "ApplicationRepository",
    "EnterpriseRepository",
    "HistoryRepository",
    "ParkRepository",
    "UnitRepository",
]
