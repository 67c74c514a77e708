"""``park outbox list|release <service> [--id N]``: the rows a service's relay quarantined.

A quarantined row failed to publish ``OUTBOX.quarantine_after`` times on its own (an
exchange that does not exist, a message the broker returned…). It is kept, skipped by the
relay and shown by the service's ``health()``. Once its cause is fixed (the topology
declared, say), ``release`` clears the quarantine and the relay publishes it at its next
pass (within ``OUTBOX.poll_interval``), with a fresh count of failures.
"""

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import MetaData

from shared.clock import as_utc
from shared.contract.fields import utc_iso
from shared.db import Database
from shared.messaging.outbox import quarantined, release
from shared.messaging.tables import add_messaging_tables
from shared.settings import database_url, load_config_file

ROOT = Path(__file__).resolve().parents[2]
outbox_app = typer.Typer(
    help="Outbox rows the relay quarantined: list, release.", no_args_is_help=True
)
console = Console() if sys.stdout.isatty() else Console(width=240)

ServiceArgument = Annotated[str, typer.Argument(help="onboarding, ticketing, billing, buyback")]
ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", envvar="PARK_CONFIG", help="nameko config file")
]
IdOption = Annotated[
    list[int] | None, typer.Option("--id", help="an outbox row id (repeatable); default: all")
]
DEFAULT_CONFIG = ROOT / "config" / "development.yaml"


def _database(config: Path, service: str) -> Database:
    try:
        return Database(database_url(load_config_file(config), service))
    except KeyError as error:
        console.print(f"[bold red]error:[/] {error.args[0]}")
        raise typer.Exit(1) from None


def _outbox():
    # Every service's outbox is the same table: no need to import the service.
    return add_messaging_tables(MetaData()).outbox


@outbox_app.command("list")
def outbox_list(service: ServiceArgument, config: ConfigOption = DEFAULT_CONFIG) -> None:
    """List the service's quarantined outbox rows (oldest first)."""
    database = _database(config, service)
    try:
        with database.engine.connect() as connection:
            rows = quarantined(connection, _outbox())
    finally:
        database.dispose()
    table = Table("id", "event_id", "type", "exchange", "failures", "quarantined at", "error")
    for row in rows:
        table.add_row(
            str(row.id),
            row.event_id,
            row.event_type,
            row.exchange,
            str(row.failures),
            utc_iso(as_utc(row.quarantined_at)),
            (row.last_error or "-")[:160],
        )
    console.print(table)
    console.print(f"{len(rows)} quarantined")


@outbox_app.command("release")
def outbox_release(
    service: ServiceArgument, ids: IdOption = None, config: ConfigOption = DEFAULT_CONFIG
) -> None:
    """Let the relay try quarantined rows again (the given ids, or all of them)."""
    database = _database(config, service)
    try:
        with database.transaction() as session:
            released = release(session.connection(), _outbox(), ids or None)
    finally:
        database.dispose()
    missing = sorted(set(ids or ()) - set(released))
    console.print(f"released {len(released)}: {', '.join(map(str, released)) or '-'}")
    if missing:
        console.print(
            f"[yellow]not quarantined[/] (unknown, already sent or released): "
            f"{', '.join(map(str, missing))}"
        )
        raise typer.Exit(1)
