"""Loading park definition files into the unit inventory."""

from collections.abc import Iterable

from services.onboarding.domain.park import ParkDefinition
from services.onboarding.domain.park_reload import ParkReload, raise_if_refused
from services.onboarding.unit_of_work import AbstractOnboardingUnitOfWork


def load_parks(
    definitions: Iterable[tuple[ParkDefinition, str]], uow: AbstractOnboardingUnitOfWork
) -> dict[str, ParkReload]:
    """Store park definitions and bring their units in line (idempotent; see
    :mod:`~services.onboarding.domain.park_reload`): all parks or, when a file would
    change or remove a held unit, none (:class:`ParkReloadRefused` names every such unit)."""
    summary = {}
    with uow:
        now = uow.clock()
        for park, text in definitions:
            uow.parks.save(park, text, now)
            summary[park.id] = uow.units.reload(park)
        raise_if_refused(summary.values())
        uow.commit()
    return summary
