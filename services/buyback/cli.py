"""Buyback's operator commands, picked up by the ``park`` CLI as ``park buyback …``.

Registered in ``pyproject.toml`` under the entry-point group ``park.commands``
(``buyback = "services.buyback.cli:buyback"``). Each command works on buyback's
database directly (no running service needed): it runs the same use case as the RPC of
the same name, in one transaction; a withdrawal's ``claim_withdrawn`` waits in buyback's
outbox until the service's relay publishes it.

Exit codes: 0 done (a withdrawal of a claim already withdrawn too: nothing changes);
1 refused, nothing changed (``[not_found]``, ``[already_settled]``, ``[claim_not_open]``,
``[invalid_request]``, ``[unknown_park]``, an unreachable or unmigrated database); 2 a
usage error (typer's).
"""

from __future__ import annotations

import getpass
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from shared.tooling.cli import DEFAULT_CONFIG, ROOT, ConfigOption, Context, console, fail

buyback = typer.Typer(
    help="Buyback claims (十年回购): list, show, withdraw, and the park's exposure.",
    no_args_is_help=True,
)


@contextmanager
def _buyback(config) -> Iterator[Any]:
    """A unit of work on buyback's database with the park files' policies; what an
    operator can act on becomes a message and exit code 1."""
    from sqlalchemy.exc import SQLAlchemyError

    from services.buyback.exceptions import BuybackError
    from services.buyback.orm import messaging
    from services.buyback.unit_of_work import BuybackRules, BuybackUnitOfWork
    from shared.clock import utcnow
    from shared.db import Database
    from shared.settings import database_url

    context = Context(config)
    rules = BuybackRules.load(
        context.config.get("PARKS_DIR", ROOT / "deploy" / "parks"),
        context.config.get("CALENDAR_DATA_DIR", ROOT / "deploy" / "calendar"),
    )
    database = Database(database_url(context.config, "buyback"))
    try:
        yield BuybackUnitOfWork(database, messaging, source="buyback", clock=utcnow, rules=rules)
    except BuybackError as error:
        fail(str(error))
    except SQLAlchemyError as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        fail(f"buyback's database: {first} (is it migrated? park db migrate buyback)")
    finally:
        database.dispose()


def _print(result: Any) -> None:
    console.print_json(json.dumps(result, ensure_ascii=False, default=str))


@buyback.command("list")
def list_claims(
    state: Annotated[
        str | None,
        typer.Option(
            help="only claims in this state (under_review, awaiting_settlement, "
            "awaiting_release, stuck, closed, rejected, withdrawn, ineligible)"
        ),
    ] = None,
    limit: Annotated[int, typer.Option(help="at most this many (1..5000)")] = 500,
    before: Annotated[
        str | None,
        typer.Option(help="the next page: claims listed after this claim id (the last shown)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Claims, newest first, with their state and what they wait for."""
    from services.buyback import handlers, schemas

    with _buyback(config) as uow:
        args = schemas.load(schemas.ClaimQuery, state=state, limit=limit, before=before)
        claims = handlers.list_claims(
            args["state"], uow, limit=args["limit"], before=args["before"]
        )
    if as_json:
        _print(claims)
        return
    table = Table("claim", "enterprise", "state", "gross (fen)", "escalated", "next due")
    for claim in claims:
        table.add_row(
            escape(claim["claim_id"]),
            escape(claim["enterprise_id"]),
            claim["state"],
            str(claim["gross_fen"]),
            ", ".join(claim["escalated"]) or "-",
            claim["next_due_at"] or "-",
        )
    console.print(table)
    console.print(f"{len(claims)} claim(s)")


@buyback.command("show")
def show(
    claim_id: Annotated[str, typer.Argument(help="the claim's id (a UUID)")],
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """One claim and every step it took, with times (JSON)."""
    from services.buyback import handlers, schemas

    with _buyback(config) as uow:
        args = schemas.load(schemas.ClaimLookup, claim_id=claim_id)
        _print(handlers.claim_history(args["claim_id"], uow))


@buyback.command("withdraw")
def withdraw(
    claim_id: Annotated[str, typer.Argument(help="the claim's id (a UUID)")],
    reason: Annotated[str, typer.Option(help="why (published in claim_withdrawn)")],
    operator: Annotated[
        str | None, typer.Option(help="who withdraws it (audited; default: your login)")
    ] = None,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Withdraw a claim before settlement: claim_withdrawn (ticketing cancels its reviews)."""
    from services.buyback import handlers, schemas

    with _buyback(config) as uow:
        args = schemas.load(
            schemas.Withdrawal,
            claim_id=claim_id,
            reason=reason,
            operator=operator or getpass.getuser(),
        )
        _print(handlers.withdraw_claim(args["claim_id"], args["reason"], args["operator"], uow))


@buyback.command("exposure")
def exposure(
    park: Annotated[
        str | None,
        typer.Option(
            "--park", help="the park's id (default: the one park buyback knows enterprises of)"
        ),
    ] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="park date YYYY-MM-DD (default: today)")
    ] = None,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """One park's original prices of purchased units still inside their ten-year window
    (fen), by year of expiry and building."""
    from services.buyback import handlers, schemas

    with _buyback(config) as uow:
        args = schemas.load(schemas.ExposureQuery, park_id=park, as_of=as_of)
        _print(handlers.exposure(args["park_id"], args["as_of"], uow))
