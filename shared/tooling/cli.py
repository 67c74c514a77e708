"""``park``: the operator's command line (DESIGN §7).

Every command reads the same nameko config file as the services (``--config``, default
``$PARK_CONFIG`` or ``config/development.yaml``).

The commands here know no service. A service contributes its own operator commands from
its ``cli.py``: a ``typer.Typer`` registered in ``pyproject.toml`` under the entry-point
group ``park.commands`` (the entry's name is the command's: ``parks = …`` gives
``park parks …``), discovered when this module is imported.
"""

import functools
import json
import sys
from datetime import UTC, datetime, timedelta
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from shared.messaging.amqp_client import CONNECTION_ERRORS, BrokerAddress, ConfirmingPublisher
from shared.messaging.dead_letters import LetterQueue, ReplayRules
from shared.messaging.errors import TopologyMissing
from shared.messaging.identities import MissingPassword
from shared.messaging.management import ManagementClient, ManagementUnavailable
from shared.messaging.topology import (
    SERVICES,
    UNROUTED,
    Topology,
    build_topology,
    dead_letter_queue,
    park_topology,
)
from shared.settings import MessagingSettings, database_url, load_config_file
from shared.tooling.calendar_cli import calendar_app
from shared.tooling.outbox_cli import outbox_app
from shared.tooling.systems_cli import systems
from shared.tooling.top import top as top_command

ROOT = Path(__file__).resolve().parents[2]  # the repository: shared/tooling/cli.py
app = typer.Typer(
    help="Operate the park services: broker topology, databases, dead letters.",
    no_args_is_help=True,
)
topology_app = typer.Typer(help="The broker topology of DESIGN §6.", no_args_is_help=True)
db_app = typer.Typer(help="The services' databases.", no_args_is_help=True)
dlq_app = typer.Typer(help="Dead-letter queues: list, show, replay, purge.", no_args_is_help=True)
unrouted_app = typer.Typer(help="park.unrouted: events no one subscribes to.", no_args_is_help=True)
app.add_typer(topology_app, name="topology")
app.add_typer(db_app, name="db")
app.add_typer(dlq_app, name="dlq")
app.add_typer(unrouted_app, name="unrouted")
app.add_typer(outbox_app, name="outbox")  # quarantined outbox rows
app.add_typer(systems, name="systems")  # ingress systems' broker users
app.command("top")(top_command)  # live queues with flags (shared/tooling/top.py)
app.add_typer(calendar_app, name="calendar")  # years the calendar package lacks
# Piped or captured output is read by programs and grep: don't cut it at 80 columns.
console = Console() if sys.stdout.isatty() else Console(width=240)

ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", envvar="PARK_CONFIG", help="nameko config file")
]
DEFAULT_CONFIG = ROOT / "config" / "development.yaml"


class Context:
    def __init__(self, config_path: Path):
        self.config = load_config_file(config_path)
        self.settings = MessagingSettings.from_config(self.config)
        self.address = BrokerAddress.from_uri(self.settings.amqp_uri)

    def management(self) -> ManagementClient:
        return ManagementClient.for_broker(self.settings.management_url, self.address)

    def letters(self, queue: str) -> LetterQueue:
        """A DLQ or ``park.unrouted``, read (and purged) as the CLI's own broker user."""
        return LetterQueue(self.cli_address, queue)

    @functools.cached_property
    def cli_address(self) -> BrokerAddress:
        """``AMQP_URI``'s broker and vhost as the CLI's own user (``PARK_CLI_USER``, by
        default ``park-cli``: it may read the DLQs and ``park.unrouted``, and nothing
        else); AMQP_URI's own user when ``PARK_CLI_USER`` is empty (local tooling)."""
        user = self.settings.cli_user
        if not user or user == self.address.user:
            return self.address
        try:
            return BrokerAddress.from_uri(self.settings.amqp_uri_as(user))
        except MissingPassword as error:
            fail(
                f"{error}; or set PARK_CLI_USER to an empty value to connect as AMQP_URI's "
                f"user ({self.address.user})"
            )

    def replayer(self, service: str) -> BrokerAddress:
        """The service's own broker user (``SERVICE_USERS``, by default its name): a replay
        publishes as the service, so that its consumer believes ``park-sender``. Without
        that user's password the replay is refused, never done as another user."""
        user = self.settings.service_user(service)
        if user == self.address.user:
            return self.address
        try:
            return BrokerAddress.from_uri(self.settings.amqp_uri_as(user))
        except MissingPassword as error:
            fail(
                f"{error}: a replay publishes as {service}'s own broker user {user!r}, never "
                "as another user (nothing replayed)"
            )

    def topology(self) -> Topology:
        """The park's topology; a config may describe another under ``TOPOLOGY``
        (``services``, ``sources``, ``subscriptions``: the test services use it)."""
        settings = self.settings
        described = self.config.get("TOPOLOGY")
        if not described:
            return park_topology(settings.retry_delays, settings.delivery_limit)
        return build_topology(
            [tuple(s) for s in described.get("subscriptions") or ()],
            services=described["services"],
            sources=described["sources"],
            retry_delays=settings.retry_delays,
            delivery_limit=settings.delivery_limit,
        )

    def replay_rules(self, service: str) -> ReplayRules:
        """A service's DLQ replays only to its own work queues, only letters its own broker
        user published (``SERVICE_USERS``, by default its name — never whoever runs the
        CLI) or the broker dead-lettered, within the inbox retention."""
        return ReplayRules(
            work_queues=self.topology().work_queues(service),
            service_users={self.settings.service_user(service)},
            window=timedelta(days=self.settings.inbox_retention_days),
        )


def fail(message: str) -> None:
    # The message is text, not markup: "[firm-x]" or "[not_found]" must print as written.
    console.print(f"[bold red]error:[/] {escape(message)}")
    raise typer.Exit(1)


@app.command()
def check(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Check that RabbitMQ and its management API are reachable; say how to fix it if not."""
    context = Context(config)
    address = context.address
    try:
        address.connect(timeout=5).close()
    except CONNECTION_ERRORS as error:
        fail(
            f"RabbitMQ is not reachable at {address.host}:{address.port} (vhost "
            f"{address.vhost!r}, user {address.user!r}): {error}\n"
            "  Start it with:  rabbitmq-server -detached   (then: rabbitmqctl await_startup)\n"
            "  or point AMQP_URI at a running broker."
        )
    try:
        context.management().overview()
    except ManagementUnavailable as error:
        fail(str(error))
    console.print(f"RabbitMQ at {address.host}:{address.port} and its management API: ok")


@topology_app.command("declare")
def topology_declare(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Declare every exchange, queue, binding and policy (idempotent)."""
    from shared.messaging.declare import declare_topology

    context = Context(config)
    declare_topology(
        context.topology(),
        context.settings.amqp_uri,
        context.settings.management_url,
        passwords=context.settings.broker_passwords,  # of the broker users it provisions
    )
    console.print("topology declared")


@topology_app.command("show")
def topology_show(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Print the topology this code would declare."""
    topology = Context(config).topology()
    table = Table("kind", "name", "details")
    for exchange in topology.exchanges():
        table.add_row("exchange", exchange.name, exchange.type)
    for queue in topology.queues():
        table.add_row("queue", queue.name, json.dumps(queue.arguments))
    for binding in topology.bindings():
        table.add_row("binding", binding.queue, f"{binding.exchange} [{binding.routing_key}]")
    for policy in topology.policies():
        details = f"{policy.apply_to} {policy.pattern} {json.dumps(policy.definition)}"
        table.add_row("policy", policy.name, details)
    console.print(table)


@db_app.command("migrate")
def db_migrate(
    services: Annotated[list[str] | None, typer.Argument(help="default: all")] = None,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Run each service's Alembic migrations up to head."""
    from shared.tooling.migrate import upgrade

    context = Context(config)
    for service in services or SERVICES:
        url = database_url(context.config, service)
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        upgrade(url, ROOT / "services" / service / "migrations")
        console.print(f"{service}: migrated")


@app.command()
def queues(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Depth, consumers and rates of every queue (from the management API)."""
    context = Context(config)
    table = Table("queue", "ready", "unacked", "consumers", "in/s", "out/s")
    for queue in sorted(
        context.management().queues(context.address.vhost), key=lambda q: q["name"]
    ):
        stats = queue.get("message_stats", {})
        rate_in = stats.get("publish_details", {}).get("rate", 0.0)
        rate_out = stats.get("deliver_get_details", {}).get("rate", 0.0)
        table.add_row(
            queue["name"],
            str(queue.get("messages_ready", 0)),
            str(queue.get("messages_unacknowledged", 0)),
            str(queue.get("consumers", 0)),
            f"{rate_in:.1f}",
            f"{rate_out:.1f}",
        )
    console.print(table)


def _letter_table(letters) -> Table:
    table = Table("#", "event_id", "type", "queue", "by", "failed at", "error")
    for letter in letters:
        table.add_row(
            str(letter.position),
            letter.event_id or "-",
            str(letter.properties.get("type") or "-"),
            letter.original_queue or "-",
            letter.dead_lettered_by,  # the consumer (park-* headers) or the broker (x-death)
            letter.failed_at_text or "-",
            (letter.error or "-")[:120],
        )
    return table


def _selector(event_id: str | None, all_: bool):
    if not event_id and not all_:
        fail("say which: --event-id ID or --all")
    return lambda letter: all_ or letter.event_id == event_id


ServiceArgument = Annotated[str, typer.Argument(help="onboarding, ticketing, billing, buyback")]
EventIdOption = Annotated[str | None, typer.Option("--event-id", help="one letter by event id")]
AllOption = Annotated[bool, typer.Option("--all", help="every letter in the queue")]


@app.command()
def trace(correlation_id: str, config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Follow one business flow: every event the services published with this correlation
    id (outboxes keep them OUTBOX.retention_days), and its dead letters."""
    from shared.tooling.trace import trace as follow

    context = Context(config)
    databases = context.config.get("DATABASES") or {}
    steps = follow(databases, correlation_id)
    table = Table("at (UTC)", "service", "type", "event_id", "caused by", "sent")
    for step in steps:
        table.add_row(
            step.at.isoformat(timespec="milliseconds"),
            step.service,
            step.type,
            step.event_id,
            step.causation_id or "-",
            "yes" if step.sent else "no",
        )
    console.print(table)
    failed = [
        (service, letter)
        for service in databases
        for letter in context.letters(dead_letter_queue(service)).peek()
        if letter.properties.get("correlation_id") == correlation_id
    ]
    for service, letter in failed:
        console.print(
            f"[red]dead letter[/] in {service}.dlq: {letter.event_id} "
            f"({letter.properties.get('type')}): {letter.error}"
        )
    if not steps and not failed:
        fail(f"nothing found for correlation id {correlation_id}")


def _naming_missing_queues(command):
    """A DLQ or park.unrouted that does not exist is an error with its fix, not a trace."""

    @functools.wraps(command)
    def run(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except TopologyMissing as error:
            fail(str(error))

    return run


@dlq_app.command("list")
@_naming_missing_queues
def dlq_list(service: ServiceArgument, config: ConfigOption = DEFAULT_CONFIG) -> None:
    """List a service's dead letters (without removing them)."""
    console.print(_letter_table(Context(config).letters(dead_letter_queue(service)).peek()))


@dlq_app.command("show")
@_naming_missing_queues
def dlq_show(
    service: ServiceArgument, event_id: str, config: ConfigOption = DEFAULT_CONFIG
) -> None:
    """Print one dead letter: headers, properties and body."""
    for letter in Context(config).letters(dead_letter_queue(service)).peek():
        if letter.event_id == event_id:
            body = letter.body.decode("utf-8", errors="replace")
            console.print_json(
                json.dumps(
                    {
                        "dead_lettered_by": letter.dead_lettered_by,
                        "original_queue": letter.original_queue,
                        "error": letter.error,
                        "headers": letter.headers,
                        "properties": {k: str(v) for k, v in letter.properties.items()},
                        "body": body,
                    },
                    ensure_ascii=False,
                    default=str,  # x-death times, and whatever else a header holds
                )
            )
            return
    fail(f"no dead letter with event id {event_id} in {dead_letter_queue(service)}")


@dlq_app.command("replay")
@_naming_missing_queues
def dlq_replay(
    service: ServiceArgument,
    event_id: EventIdOption = None,
    all_: AllOption = False,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Send dead letters back to their original queue (never through the exchange)."""
    context = Context(config)
    # Read as park-cli; published as the service's own broker user, so that its consumer
    # believes park-sender and the replay keeps the original sender.
    publisher = ConfirmingPublisher(context.replayer(service))
    try:
        outcome = context.letters(dead_letter_queue(service)).replay(
            _selector(event_id, all_),
            rules=context.replay_rules(service),
            now=lambda: datetime.now(UTC),
            publisher=publisher,
        )
    finally:
        publisher.close()
    if event_id and not outcome.replayed and not outcome.refused:
        fail(f"no dead letter with event id {event_id} in {dead_letter_queue(service)}")
    for letter, reason in outcome.refused:
        console.print(f"[yellow]refused[/] {letter.event_id}: {reason}")
    console.print(f"replayed {len(outcome.replayed)}, refused {len(outcome.refused)}")
    if outcome.refused:
        raise typer.Exit(1)


@dlq_app.command("purge")
@_naming_missing_queues
def dlq_purge(
    service: ServiceArgument,
    event_id: EventIdOption = None,
    all_: AllOption = False,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Discard dead letters for good."""
    removed = Context(config).letters(dead_letter_queue(service)).purge(_selector(event_id, all_))
    console.print(f"purged {len(removed)}")


@unrouted_app.command("list")
@_naming_missing_queues
def unrouted_list(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """List events that reached no subscriber."""
    table = Table("#", "event_id", "exchange/type", "correlation_id")
    for letter in Context(config).letters(UNROUTED).peek():
        table.add_row(
            str(letter.position),
            letter.event_id or "-",
            f"{letter.properties.get('app_id')}/{letter.properties.get('type')}",
            letter.properties.get("correlation_id") or "-",
        )
    console.print(table)


@unrouted_app.command("purge")
@_naming_missing_queues
def unrouted_purge(
    event_id: EventIdOption = None, all_: AllOption = False, config: ConfigOption = DEFAULT_CONFIG
) -> None:
    """Discard unrouted events."""
    removed = Context(config).letters(UNROUTED).purge(_selector(event_id, all_))
    console.print(f"purged {len(removed)}")


@app.command()
def publish(
    source: str,
    type_: Annotated[str, typer.Argument(metavar="TYPE")],
    payload: Annotated[str, typer.Argument(help="JSON object, or @file.json")],
    park_id: Annotated[str | None, typer.Option("--park-id")] = None,
    correlation_id: Annotated[str | None, typer.Option("--correlation-id")] = None,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Publish one contract-checked event (a test event, or a manual correction)."""
    import shared.contract  # noqa: F401  (fills the registry)
    from shared.messaging.errors import ContractViolation
    from shared.messaging.identities import PARK_CLI
    from shared.messaging.publisher import EventPublisher

    text = Path(payload[1:]).read_text("utf-8") if payload.startswith("@") else payload
    try:
        document = json.loads(text)
    except ValueError as error:
        fail(f"payload is not JSON: {error}")
    # As the operator's own broker user: user_id=park-cli, verified by the broker.
    with EventPublisher(Context(config).settings.amqp_uri_as(PARK_CLI), source) as publisher:
        try:
            envelope = publisher.publish(
                type_, document, park_id=park_id, correlation_id=correlation_id
            )
        except ContractViolation as error:
            fail(str(error))
    console.print_json(json.dumps(envelope, ensure_ascii=False))


COMMANDS_GROUP = "park.commands"


def add_service_commands(target: typer.Typer) -> None:
    """Add each service's commands (entry-point group ``park.commands``) to ``target``.

    A service whose commands fail to load is reported and skipped, so one broken
    ``cli.py`` does not take the operator's other commands (``dlq``, ``topology``) away.
    """
    for entry in sorted(entry_points(group=COMMANDS_GROUP), key=lambda e: e.name):
        try:
            commands = entry.load()
        except Exception as error:
            print(
                f"park: {entry.name} commands unavailable ({entry.value}): {error!r}",
                file=sys.stderr,
            )
            continue
        target.add_typer(commands, name=entry.name)


if __name__ == "__main__":
    # Run the importable module, not this ``__main__`` copy: a service's cli.py imports
    # shared.tooling.cli, and both must mean the one module whose app gets its commands.
    from shared.tooling.cli import app as park

    park()
else:
    add_service_commands(app)
