"""``firm``: a resident firm's command line (guide: ``docs/firms.md``).

Every command takes the firm's identity from ``--firm-id`` / ``FIRM_ID``, the broker
from ``--amqp-uri`` / ``FIRM_AMQP_URI`` (default: the development broker as
``firm-<firm_id>`` with password ``dev-<firm_id>``) and the store from ``--store`` /
``FIRM_STORE`` (default ``./firm-<firm_id>.sqlite``). Every command first sends the
reports still pending in the store.

Exit codes: 0 done; 1 unexpected error; 2 bad arguments or configuration (nothing
written); 3 unknown ticket, or the ticket no longer takes that report (nothing written);
4 the broker could not be reached or refused the firm; 5 the report is saved but not
sent yet (the next command, or ``firm work send``, sends it).
"""

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from clients.firm.client import (
    BrokerUnavailable,
    ConfigurationError,
    FirmClient,
    InvalidReport,
    ReportResult,
    TicketNotOpen,
    UnknownTicket,
)
from clients.firm.store import ItemStatus

OK, UNEXPECTED, BAD_ARGUMENTS, NOT_OPEN, BROKER, PENDING = 0, 1, 2, 3, 4, 5

app = typer.Typer(
    help="A resident firm's work from the park: fetch, list, report.", no_args_is_help=True
)
work_app = typer.Typer(help="Work items: fetch, list, show, and report on them.")
app.add_typer(work_app, name="work", no_args_is_help=True)
console = Console() if sys.stdout.isatty() else Console(width=240)
errors = Console(stderr=True, soft_wrap=True)  # one line per message: scripts grep them

FirmId = Annotated[str, typer.Option("--firm-id", envvar="FIRM_ID", help="your firm's id")]
AmqpUri = Annotated[
    str | None,
    typer.Option(
        "--amqp-uri", envvar="FIRM_AMQP_URI", help="amqp://firm-<id>:<password>@host/vhost"
    ),
]
StorePath = Annotated[
    Path | None,
    typer.Option("--store", envvar="FIRM_STORE", help="the local store (./firm-<id>.sqlite)"),
]
Note = Annotated[str, typer.Option("--note", "-n", help="text for the enterprise")]


def _fail(code: int, message: str) -> typer.Exit:
    errors.print(f"[red]error:[/red] {message}", markup=True, highlight=False)
    return typer.Exit(code)


def _client(firm_id: str, amqp_uri: str | None, store: Path | None) -> FirmClient:
    try:
        return FirmClient(firm_id, amqp_uri, store)
    except ConfigurationError as error:
        raise _fail(BAD_ARGUMENTS, str(error)) from None


def _send_pending(client: FirmClient) -> int:
    """Send what is pending; the number still pending afterwards."""
    result = client.send_pending()
    if result.sent:
        console.print(f"sent {len(result.sent)} pending report(s)")
    if result.pending:
        errors.print(
            f"[yellow]{len(result.pending)} report(s) still pending:[/yellow] {result.error}",
            markup=True,
            highlight=False,
        )
    return len(result.pending)


def _run_report(client: FirmClient, action) -> None:
    with client:
        _send_pending(client)
        try:
            result: ReportResult = action()
        except InvalidReport as error:
            raise _fail(BAD_ARGUMENTS, str(error)) from None
        except (UnknownTicket, TicketNotOpen) as error:
            raise _fail(NOT_OPEN, str(error)) from None
        if not result.sent:
            raise _fail(
                PENDING,
                f"{result.type} for {result.ticket_id} saved, not sent yet ({result.error}); "
                "the next command sends it (or: firm work send)",
            )
        console.print(f"{result.type} for {result.ticket_id} sent ({result.event_id})")


@work_app.command("fetch")
def fetch(
    firm_id: FirmId,
    amqp_uri: AmqpUri = None,
    store: StorePath = None,
    limit: Annotated[int | None, typer.Option(help="at most this many messages")] = None,
):
    """Move new work from your queue into the local store (acked once stored)."""
    with _client(firm_id, amqp_uri, store) as client:
        try:
            result = client.fetch(limit)
        except BrokerUnavailable as error:
            raise _fail(BROKER, str(error)) from None
        console.print(
            f"{result.stored} new, {result.updated} updated, {result.withdrawn} withdrawn, "
            f"{result.duplicates} already stored, {result.quarantined} quarantined"
        )
        _send_pending(client)


@work_app.command("list")
def list_(
    firm_id: FirmId,
    amqp_uri: AmqpUri = None,
    store: StorePath = None,
    status: Annotated[
        list[ItemStatus] | None, typer.Option("--status", help="only these (repeatable)")
    ] = None,
    all_: Annotated[
        bool, typer.Option("--all", help="also declined, completed, withdrawn")
    ] = False,
):
    """The work items in the store (open ones unless --all or --status)."""
    with _client(firm_id, amqp_uri, store) as client:
        wanted = status or (None if all_ else [s for s in ItemStatus if s.value in _OPEN])
        table = Table(
            "ticket", "status", "service", "enterprise", "priority", "first response due",
            "resolution due",
        )  # fmt: skip
        for item in client.items(wanted):
            payload = item.payload or {}
            enterprise = (payload.get("enterprise") or {}).get("name", "")
            table.add_row(
                item.ticket_id,
                item.status.value,
                item.service_label,
                enterprise,
                payload.get("priority", ""),
                payload.get("first_response_due_at") or "",
                payload.get("resolution_due_at") or "",
            )
        console.print(table)
        if client.store.pending_reports():
            _send_pending(client)


_OPEN = {"new", "accepted", "in_progress", "waiting_on_enterprise"}


@work_app.command("show")
def show(
    ticket_id: str,
    firm_id: FirmId,
    amqp_uri: AmqpUri = None,
    store: StorePath = None,
):
    """One work item in full, with the reports you made on it."""
    with _client(firm_id, amqp_uri, store) as client:
        item = client.store.item(ticket_id)
        if item is None:
            raise _fail(NOT_OPEN, f"no work item {ticket_id} in {client.store.path}")
        document = {
            "ticket_id": item.ticket_id,
            "status": item.status.value,
            "withdrawn_reason": item.withdrawn_reason,
            "work": item.payload,
            "reports": [
                {
                    "type": r.type,
                    "status": r.status,
                    "created_at": r.created_at,
                    "payload": r.envelope["payload"],
                    "last_error": r.last_error,
                }
                for r in client.store.reports(ticket_id)
            ],
        }
        console.print_json(json.dumps(document, ensure_ascii=False))
        if client.store.pending_reports():
            _send_pending(client)


@work_app.command("accept")
def accept(
    ticket_id: str,
    firm_id: FirmId,
    note: Note = "",
    amqp_uri: AmqpUri = None,
    store: StorePath = None,
):
    """Take the ticket (its first response)."""
    client = _client(firm_id, amqp_uri, store)
    _run_report(client, lambda: client.accept(ticket_id, note))


@work_app.command("decline")
def decline(
    ticket_id: str,
    firm_id: FirmId,
    note: Annotated[str, typer.Option("--note", "-n", help="why (required)")],
    amqp_uri: AmqpUri = None,
    store: StorePath = None,
):
    """Refuse the ticket: the park gives it to another firm."""
    client = _client(firm_id, amqp_uri, store)
    _run_report(client, lambda: client.decline(ticket_id, note))


@work_app.command("progress")
def progress(
    ticket_id: str,
    firm_id: FirmId,
    note: Annotated[str, typer.Option("--note", "-n", help="what happened (required)")],
    waiting: Annotated[
        bool,
        typer.Option("--waiting-on-enterprise", help="you need the enterprise: the SLA pauses"),
    ] = False,
    amqp_uri: AmqpUri = None,
    store: StorePath = None,
):
    """Report progress (optionally: waiting on the enterprise)."""
    client = _client(firm_id, amqp_uri, store)
    _run_report(client, lambda: client.progress(ticket_id, note, waiting_on_enterprise=waiting))


@work_app.command("complete")
def complete(
    ticket_id: str,
    firm_id: FirmId,
    outcome: Annotated[str, typer.Option("--outcome", help="done | approve | reject")],
    note: Note = "",
    reason: Annotated[
        list[str] | None, typer.Option("--reason", help="why (a review; repeatable)")
    ] = None,
    fee_fen: Annotated[
        int | None, typer.Option("--fee-fen", help="your fee in fen (quoted services only)")
    ] = None,
    amqp_uri: AmqpUri = None,
    store: StorePath = None,
):
    """Finish the ticket with its outcome (and your fee, for a quoted service)."""
    client = _client(firm_id, amqp_uri, store)
    _run_report(
        client,
        lambda: client.complete(ticket_id, outcome, note, reasons=reason or (), fee_fen=fee_fen),
    )


@work_app.command("send")
def send(firm_id: FirmId, amqp_uri: AmqpUri = None, store: StorePath = None):
    """Send the reports still pending in the store."""
    with _client(firm_id, amqp_uri, store) as client:
        if not client.store.pending_reports():
            console.print("nothing pending")
            return
        if _send_pending(client):
            raise typer.Exit(PENDING)


def main() -> None:  # the console script
    try:
        app()
    except SystemExit:
        raise
    except Exception as error:  # an unexpected error: say it plainly, exit 1
        errors.print(f"[red]unexpected error:[/red] {type(error).__name__}: {error}", markup=True)
        sys.exit(UNEXPECTED)


if __name__ == "__main__":
    main()
