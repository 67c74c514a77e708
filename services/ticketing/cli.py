"""Ticketing's operator commands, picked up by the ``park`` CLI as ``park firms …``.

Registered in ``pyproject.toml`` under the entry-point group ``park.commands``
(``firms = "services.ticketing.cli:firms"``). Each command works on ticketing's database
directly (no running service needed) and on the broker through AMQP and the management
API; what a firm's registration does on the broker, and in which order, is
:mod:`services.ticketing.provisioning`.

Exit codes: 0 done (also when there was nothing to change: the output says so); 1
refused, nothing changed by the failing step (an invalid file or firm, an unknown firm, a
missing password, the broker or its management API unreachable, the topology not
declared); 2 a usage error (typer's).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from shared.tooling.cli import DEFAULT_CONFIG, ROOT, ConfigOption, Context, console
from shared.tooling.cli import fail as _fail_markup

if TYPE_CHECKING:
    from services.ticketing.domain.firm_directory import Firm
    from services.ticketing.provisioning import Applied, FirmBroker

firms = typer.Typer(
    help="Resident firms: registration in ticketing and their broker identities.",
    no_args_is_help=True,
)

DEFAULT_REASON = "disabled by the operator"


def fail(message: str) -> None:
    """Print ``error: <message>`` and exit 1; the message is text, never rich markup
    (``[not_found]``, ``[<firm_id>]`` would vanish as tags)."""
    _fail_markup(escape(message))


def _firms_dir(context: Context, directory: Path | None) -> Path:
    return directory or Path(context.config.get("FIRMS_DIR", ROOT / "deploy" / "firms"))


@contextmanager
def _ticketing(context: Context) -> Iterator[Any]:
    """A unit-of-work factory on ticketing's database, with the config's rules."""
    from services.ticketing.orm import messaging
    from services.ticketing.unit_of_work import TicketingRules, TicketingUnitOfWork
    from shared.clock import utcnow
    from shared.db import Database
    from shared.settings import database_url

    config = context.config
    rules = TicketingRules.load(
        parks_dir=config.get("PARKS_DIR", ROOT / "deploy" / "parks"),
        calendar_dir=config.get("CALENDAR_DATA_DIR", ROOT / "deploy" / "calendar"),
    )
    database = Database(database_url(config, "ticketing"))
    try:
        yield lambda: TicketingUnitOfWork(
            database, messaging, source="ticketing", clock=utcnow, rules=rules
        )
    finally:
        database.dispose()


@contextmanager
def _refusals() -> Iterator[None]:
    """Turn what the operator can fix into a message and exit code 1."""
    from sqlalchemy.exc import SQLAlchemyError

    from services.ticketing.exceptions import TicketingServiceError
    from shared.messaging.amqp_client import CONNECTION_ERRORS
    from shared.messaging.errors import TopologyMissing
    from shared.messaging.identities import MissingPassword
    from shared.messaging.management import ManagementUnavailable

    try:
        yield
    except (MissingPassword, TopologyMissing, ManagementUnavailable) as error:
        fail(str(error))
    except TicketingServiceError as error:
        fail(str(error))
    except CONNECTION_ERRORS as error:
        fail(f"the broker is not reachable: {error} (park check says how to fix it)")
    except SQLAlchemyError as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        fail(f"ticketing's database: {first} (is it migrated? park db migrate ticketing)")


def _broker(context: Context) -> FirmBroker:
    from services.ticketing.provisioning import FirmBroker

    settings = context.settings
    return FirmBroker.connect(context.topology(), settings.amqp_uri, settings.management_url)


def _same(record: Mapping[str, Any], firm: Firm, park_id: str | None) -> bool:
    """Whether ticketing already holds exactly ``firm``, active, for ``park_id``."""
    contact = firm.contact
    return bool(record["active"]) and (
        record["park_id"],
        record["name"],
        record["kind"],
        sorted(record["skills"]),
        record["capacity"],
        record["contact"],
    ) == (
        park_id,
        firm.name,
        str(firm.kind),
        sorted(firm.skills),
        firm.capacity,
        {"person": contact.person, "phone": contact.phone, "email": contact.email},
    )


def _registrar(new_uow, known: Mapping[str, Mapping[str, Any]], park_id: str | None):
    """``register(firm)`` for :func:`~services.ticketing.provisioning.add_firm`: the
    database step, skipped when ticketing already holds exactly this firm, active."""
    from services.ticketing import handlers
    from shared.clock import utcnow

    def register(firm: Firm) -> str | None:
        record = known.get(firm.firm_id.value)
        if record is not None and _same(record, firm, park_id):
            return None
        result = handlers.register_firm(new_uow(), firm, utcnow(), park_id)
        routed = len(result.get("routed_tickets") or ())
        verbs = {None: "registered", True: "updated", False: "re-enabled"}
        verb = verbs[None if record is None else bool(record["active"])]
        return f"{verb} in ticketing" + (f", {routed} waiting ticket(s) routed" if routed else "")

    return register


def _print(applied: Applied) -> None:
    if not applied.changed:
        console.print(f"{applied.firm_id}: unchanged", highlight=False, markup=False)
        return
    console.print(f"{applied.firm_id}:", highlight=False, markup=False)
    for line in applied.lines():
        console.print(f"  {line}", highlight=False, markup=False)


@firms.command("load")
def firms_load(
    directory: Annotated[Path | None, typer.Argument(help="default: FIRMS_DIR")] = None,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Register every firm of the firms files (FIRMS_DIR: deploy/firms/<park>.yaml).

    Validates every file first, then for each firm: its broker identity, then ticketing's
    database (idempotent: a second run changes nothing and says so). A firm disabled in
    ticketing stays disabled (park firms add re-enables it); a registered firm missing
    from the files is reported, not disabled.
    """
    from services.ticketing import handlers
    from services.ticketing.domain.firm_directory import load_firm_directories
    from services.ticketing.provisioning import add_firm, firm_password

    context = Context(config)
    try:
        directories = load_firm_directories(_firms_dir(context, directory))
    except ValueError as error:  # every file's problems, each naming file, line and field
        fail(str(error))
    counts = {"changed": 0, "unchanged": 0, "disabled": 0}
    with _refusals(), _ticketing(context) as new_uow:
        everyone = [(park, firm) for park, found in directories.items() for firm in found]
        # Every password before touching anything: a missing one changes nothing.
        passwords = {f.firm_id: firm_password(f.firm_id, context.config) for _, f in everyone}
        broker = _broker(context)
        known = {record["firm_id"]: record for record in handlers.list_firms(new_uow())}
        for park_id, firm in everyone:
            record = known.get(firm.firm_id.value)
            if record is not None and not record["active"]:
                console.print(
                    f"{firm.firm_id}: disabled in ticketing, left disabled "
                    "(park firms add re-enables it)",
                    highlight=False,
                    markup=False,
                )
                counts["disabled"] += 1
                continue
            register = _registrar(new_uow, known, park_id)
            applied = add_firm(firm, passwords[firm.firm_id], broker, register)
            _print(applied)
            counts["changed" if applied.changed else "unchanged"] += 1
    in_files = {firm.firm_id.value for _, firm in everyone}
    for firm_id in sorted(set(known) - in_files):
        if known[firm_id]["active"]:
            console.print(
                f"{firm_id}: registered but in no firms file (park firms disable {firm_id} "
                "retires it)",
                highlight=False,
                markup=False,
            )
    _print_coverage(directories)
    summary = (
        f"{len(everyone)} firm(s) in {len(directories)} file(s): {counts['changed']} changed, "
        f"{counts['unchanged']} unchanged, {counts['disabled']} left disabled"
    )
    if not counts["changed"]:
        summary += " — nothing to do"
    console.print(summary, highlight=False, markup=False)


def _print_coverage(directories: Mapping[str, Any]) -> None:
    """What each park's firms cannot serve (not fatal: those tickets wait visibly until a
    firm that can is added)."""
    from services.ticketing.domain.catalogue import load_catalogue
    from services.ticketing.domain.firm_directory import check_coverage
    from services.ticketing.unit_of_work import DEFAULT_CATALOGUE

    catalogue = load_catalogue(DEFAULT_CATALOGUE)
    for park_id, directory in sorted(directories.items()):
        for gap in check_coverage(catalogue, directory):
            console.print(f"coverage of {park_id}: {gap}", highlight=False, markup=False)


@firms.command("add")
def firms_add(
    firm_id: Annotated[str, typer.Argument(help="the firm's id: a-z, 0-9, hyphens; ≤ 40")],
    file: Annotated[
        Path | None,
        typer.Option("--from", help="a firms file or directory to take the firm from"),
    ] = None,
    park: Annotated[str | None, typer.Option(help="the park it serves (default: all)")] = None,
    name: Annotated[str | None, typer.Option(help="the firm's name")] = None,
    kind: Annotated[str | None, typer.Option(help="legal, finance, accounting, …")] = None,
    skill: Annotated[list[str] | None, typer.Option(help="a skill tag (repeat)")] = None,
    capacity: Annotated[int | None, typer.Option(help="most open tickets at once")] = None,
    person: Annotated[str | None, typer.Option(help="contact person")] = None,
    phone: Annotated[str | None, typer.Option(help="contact phone")] = None,
    email: Annotated[str | None, typer.Option(help="contact e-mail")] = None,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Register one firm, or re-enable a disabled one.

    The firm comes from the firms files (FIRMS_DIR, or --from), or is described by the
    options --name --kind --skill … --capacity --person --phone, optionally --email and
    --park. Provisions its broker identity first, then registers it in ticketing."""
    from services.ticketing import handlers
    from services.ticketing.provisioning import add_firm, firm_password

    context = Context(config)
    described = [name, kind, skill, capacity, person, phone, email]
    if any(value is not None for value in described):
        found = _described_firm(firm_id, name, kind, skill, capacity, person, phone, email, park)
        park_id = park
    else:
        found, park_id = _firm_from_files(firm_id, _firms_dir(context, file))
        park_id = park if park is not None else park_id
    with _refusals(), _ticketing(context) as new_uow:
        password = firm_password(found.firm_id, context.config)
        broker = _broker(context)
        known = {record["firm_id"]: record for record in handlers.list_firms(new_uow())}
        applied = add_firm(found, password, broker, _registrar(new_uow, known, park_id))
    _print(applied)
    if not applied.changed:
        console.print("nothing to do", highlight=False, markup=False)


def _described_firm(firm_id, name, kind, skills, capacity, person, phone, email, park) -> Firm:
    """The firm the options describe, validated exactly as an entry of a firms file."""
    import yaml

    from services.ticketing.domain.firm_directory import (
        FirmDirectoryError,
        parse_firm_directory,
    )

    missing = [
        option
        for option, value in (
            ("--name", name),
            ("--kind", kind),
            ("--skill", skills),
            ("--capacity", capacity),
            ("--person", person),
            ("--phone", phone),
        )
        if value is None or value == "" or value == []
    ]
    if missing:
        fail(f"describe the firm fully or not at all: missing {', '.join(missing)}")
    contact = {"person": person, "phone": phone} | ({"email": email} if email else {})
    entry = {
        "firm_id": firm_id,
        "name": name,
        "kind": kind,
        "skills": list(skills),
        "capacity": capacity,
        "contact": contact,
    }
    document = {"park": park or "any", "firms": [entry]}
    try:
        [firm] = parse_firm_directory(yaml.safe_dump(document, allow_unicode=True), "options")
    except FirmDirectoryError as error:
        problems = [
            f"{problem.field.removeprefix('firms[0].')}: {problem.message}"
            for problem in error.problems
        ]
        fail("invalid firm:\n  " + "\n  ".join(problems))
        raise  # unreachable: fail exits
    return firm


def _firm_from_files(firm_id: str, where: Path) -> tuple[Firm, str]:
    from services.ticketing.domain.firm_directory import (
        FirmDirectoryError,
        load_firm_directories,
        load_firm_directory,
    )

    try:
        if where.is_file():
            directory = load_firm_directory(where)
            directories = {directory.park_id: directory}
        else:
            directories = load_firm_directories(where)
    except (FirmDirectoryError, ValueError, OSError) as error:
        fail(str(error))
    for park_id, directory in directories.items():
        found = directory.get(firm_id)
        if found is not None:
            return found, park_id
    fail(f"no firm {firm_id} in {where} (describe it with --name --kind --skill …)")
    raise AssertionError("unreachable")


@firms.command("list")
def firms_list(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Every registered firm, and what the broker holds of its identity.

    Columns: park, kind, open tickets / capacity, status, broker (ok; revoked; absent;
    incomplete: what is missing), name."""
    from services.ticketing import handlers
    from services.ticketing.domain.firm_directory import FirmId

    context = Context(config)
    table = Table("firm", "park", "kind", "open/capacity", "status", "broker", "name")
    with _refusals(), _ticketing(context) as new_uow:
        records = handlers.list_firms(new_uow())
        broker = _broker(context)
        for record in records:
            status = "active" if record["active"] else f"disabled: {record['disabled_reason']}"
            cells = (
                record["firm_id"],
                record["park_id"] or "(all)",
                record["kind"],
                f"{record['open_tickets']}/{record['capacity']}",
                status,
                broker.state(FirmId(record["firm_id"])).describe(),
                record["name"],
            )
            table.add_row(*(escape(cell) for cell in cells))  # names and reasons are text
    console.print(table)
    console.print(f"{len(records)} firm(s)", highlight=False, markup=False)


@firms.command("disable")
def firms_disable(
    firm_id: Annotated[str, typer.Argument(help="the firm's id")],
    reason: Annotated[str, typer.Option(help="why (kept with the firm)")] = DEFAULT_REASON,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Disable a firm: reassign its open tickets, then revoke its broker user.

    Ticketing reassigns its open tickets and withdraws their work items (the running
    service's relay publishes them); then its broker user is revoked on this vhost
    (permissions cleared, connections closed, the user deleted if it holds no other
    vhost). Disabling again only completes a revocation left unfinished."""
    from services.ticketing import handlers
    from services.ticketing.domain.firm_directory import FirmId
    from services.ticketing.exceptions import NotFound
    from services.ticketing.provisioning import disable_firm
    from shared.clock import utcnow

    try:
        wanted = FirmId(firm_id)
    except ValueError as error:
        fail(str(error))
    context = Context(config)
    with _refusals(), _ticketing(context) as new_uow:
        known = {record["firm_id"]: record for record in handlers.list_firms(new_uow())}
        if firm_id not in known:
            raise NotFound(f"no firm {firm_id} registered in ticketing")
        broker = _broker(context)

        def disable(target: FirmId) -> str | None:
            if not known[target.value]["active"]:
                return None
            result = handlers.disable_firm(new_uow(), target.value, reason, utcnow())
            moved = len(result.get("reassigned_tickets") or ())
            return f"disabled in ticketing, {moved} open ticket(s) reassigned"

        applied = disable_firm(wanted, broker, disable)
    _print(applied)
    if not applied.changed:
        console.print("already disabled and revoked: nothing to do", highlight=False, markup=False)
