"""Billing's operator commands, picked up by the ``park`` CLI as ``park billing …``.

Registered in ``pyproject.toml`` under the entry-point group ``park.commands``
(``billing = "services.billing.cli:billing"``). Each command works on billing's database
directly (no running service needed): it runs the same use case as the RPC of the same
name, in one transaction, and the events it causes wait in billing's outbox until the
service's relay publishes them.

Exit codes: 0 done; 1 refused, nothing changed (``[not_found]``, ``[refused]`` with its
reason code, an unreachable database); 2 a usage error (typer's).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Annotated, Any

import typer

from shared.tooling.cli import DEFAULT_CONFIG, ROOT, ConfigOption, Context, console, fail

billing = typer.Typer(
    help="Billing: match payments in suspense, waive late fees, credit notes, the cycle.",
    no_args_is_help=True,
)


@contextmanager
def _billing(config) -> Iterator[Any]:
    """A unit of work on billing's database with the park files' terms; errors an
    operator can act on become a message and exit code 1."""
    from sqlalchemy.exc import SQLAlchemyError

    from services.billing.exceptions import BillingServiceError
    from services.billing.orm import messaging
    from services.billing.unit_of_work import BillingRules, BillingUnitOfWork
    from shared.clock import utcnow
    from shared.db import Database
    from shared.settings import database_url

    context = Context(config)
    rules = BillingRules.load(context.config.get("PARKS_DIR", ROOT / "deploy" / "parks"))
    database = Database(database_url(context.config, "billing"))
    try:
        yield BillingUnitOfWork(database, messaging, source="billing", clock=utcnow, rules=rules)
    except BillingServiceError as error:
        fail(str(error))
    except SQLAlchemyError as error:
        fail(f"billing's database: {type(error).__name__}: {str(error).splitlines()[0]}")
    finally:
        database.dispose()


def _print(result: Any) -> None:
    console.print_json(json.dumps(result, ensure_ascii=False, default=str))


@billing.command("match-payment")
def match_payment(
    bank_txn_id: Annotated[str, typer.Argument(help="the payment in suspense")],
    enterprise_id: Annotated[str, typer.Argument(help="the enterprise that paid")],
    operator: Annotated[str, typer.Option(help="who matches it (audited)")],
    reason: Annotated[str, typer.Option(help="why (audited)")],
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Match a payment in suspense to an enterprise and apply it."""
    from services.billing import handlers, schemas

    with _billing(config) as uow:
        args = schemas.load(
            schemas.MatchPayment,
            bank_txn_id=bank_txn_id,
            enterprise_id=enterprise_id,
            operator=operator,
            reason=reason,
        )
        _print(handlers.match_payment(uow=uow, **args))


@billing.command("waive-late-fee")
def waive_late_fee(
    invoice_id: Annotated[str, typer.Argument(help="the overdue invoice")],
    operator: Annotated[str, typer.Option(help="who waives (audited)")],
    reason: Annotated[str, typer.Option(help="why (audited)")],
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Waive an overdue invoice's late fees (billed ones are credit-noted)."""
    from services.billing import handlers, schemas

    with _billing(config) as uow:
        args = schemas.load(
            schemas.WaiveLateFee, invoice_id=invoice_id, operator=operator, reason=reason
        )
        _print(handlers.waive_late_fee(uow=uow, **args))


@billing.command("credit-note")
def credit_note(
    invoice_id: Annotated[str, typer.Argument(help="the invoice to correct")],
    amount_fen: Annotated[int, typer.Argument(help="tax-inclusive amount in fen", min=1)],
    operator: Annotated[str, typer.Option(help="who issues it (audited)")],
    reason: Annotated[str, typer.Option(help="why (audited)")],
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Issue a credit note against an issued invoice."""
    from services.billing import handlers, schemas

    with _billing(config) as uow:
        args = schemas.load(
            schemas.CreditNote,
            invoice_id=invoice_id,
            amount_fen=amount_fen,
            reason=reason,
            operator=operator,
        )
        _print(handlers.issue_credit_note(uow=uow, **args))


@billing.command("rebaseline-meter")
def rebaseline_meter(
    meter_id: Annotated[str, typer.Argument(help="the meter (replaced or reset)")],
    reading: Annotated[str, typer.Argument(help="its reading now, e.g. 0")],
    operator: Annotated[str, typer.Option(help="who rebaselines it (audited)")],
    reason: Annotated[str, typer.Option(help="why (audited)")],
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Rebaseline a meter: bill what it read and was not billed, then bill from READING on."""
    from services.billing import handlers, schemas

    with _billing(config) as uow:
        args = schemas.load(
            schemas.RebaselineMeter,
            meter_id=meter_id,
            reading=reading,
            operator=operator,
            reason=reason,
        )
        _print(handlers.rebaseline_meter(uow=uow, **args))


@billing.command("run-cycle")
def run_cycle(
    on: Annotated[str | None, typer.Option(help="park date YYYY-MM-DD (default: today)")] = None,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Run the billing cycle now (idempotent: what is issued is never issued twice)."""
    from services.billing import handlers

    try:
        day = date.fromisoformat(on) if on else None
    except ValueError:
        fail(f"--on {on!r} is not a date YYYY-MM-DD")
    with _billing(config) as uow:
        result = handlers.run_billing_cycle(uow, day).summary()
    _print(result)
    if result["failed"]:
        raise typer.Exit(1)


@billing.command("trial-balance")
def trial_balance(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Every ledger account's balance; their total is always 0 (exit 1 if not)."""
    from services.billing import handlers

    with _billing(config) as uow:
        result = handlers.trial_balance(uow)
    _print(result)
    if result["total_fen"] != 0:
        raise typer.Exit(1)
