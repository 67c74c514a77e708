"""Onboarding's operator commands, picked up by the ``park`` CLI as ``park parks …``.

Registered in ``pyproject.toml`` under the entry-point group ``park.commands``
(``parks = "services.onboarding.cli:parks"``); ``shared/tooling/cli.py`` discovers the
group and never imports a service.
"""

from pathlib import Path
from typing import Annotated

import typer

from shared.tooling.cli import DEFAULT_CONFIG, ROOT, ConfigOption, Context, console, fail

parks = typer.Typer(help="Park definition files (deploy/parks/).", no_args_is_help=True)


@parks.command("load")
def parks_load(
    directory: Annotated[Path | None, typer.Argument(help="default: PARKS_DIR")] = None,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Validate every park file and load parks and units into onboarding (idempotent).

    Reports per park what was added, changed and removed; refuses, changing nothing, a
    file that would change or remove a reserved, sold or leased unit.
    """
    from services.onboarding import handlers
    from services.onboarding.domain.errors import ParkReloadRefused
    from services.onboarding.domain.park_definition import (
        ParkDefinitionError,
        load_park_definitions,
    )
    from services.onboarding.orm import messaging
    from services.onboarding.unit_of_work import OnboardingUnitOfWork
    from shared.clock import utcnow
    from shared.db import Database
    from shared.settings import database_url

    context = Context(config)
    directory = directory or Path(context.config.get("PARKS_DIR", ROOT / "deploy" / "parks"))
    try:
        definitions = load_park_definitions(directory)
    except (ParkDefinitionError, ValueError) as error:  # ValueError: several files at once
        fail(str(error))
    database = Database(database_url(context.config, "onboarding"))
    uow = OnboardingUnitOfWork(database, messaging, source="onboarding", clock=utcnow)
    try:
        reloads = handlers.load_parks(
            [(park, Path(park.source).read_text("utf-8")) for park in definitions.values()], uow
        )
    except ParkReloadRefused as refusal:
        fail(str(refusal))
    finally:
        database.dispose()
    for reload in reloads.values():
        console.print(reload.summary(), highlight=False)
        for line in reload.details():
            console.print(f"  {line}", highlight=False)
