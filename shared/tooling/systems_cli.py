"""``park systems add|list|disable <system>``: the broker users of ingress systems.

An ingress system (the portal, the joint-review departments ``gov``, the bank gateway,
the meter system, or one added later) publishes its events on its own exchange
``<system>.events`` as its own broker user ``<system>``, which may do nothing else
(:func:`~shared.messaging.identities.ingress_permissions`: configure nothing, write
``^<system>\\.events$``, read nothing). The declare step provisions the four built-in
systems; these commands add, list and revoke them one by one, through the management API.

* **add**: checks the name (lower-case letters, digits, ``-`` and ``_``, not a service,
  ``firms``, ``park-cli``, a firm's ``firm-…`` or an existing user with tags), checks that
  the topology is declared (the policy ``park-alternate-exchange``), declares the topic
  exchange ``<system>.events`` (durable; the policy gives it the alternate exchange
  ``park.unrouted``, as for every ``*.events`` exchange), then creates the user and sets its
  permissions on the vhost. The password is ``--password`` (or
  ``$SYSTEM_BROKER_PASSWORD``); else, for a built-in system, its ``BROKER_PASSWORDS`` entry;
  else a new random one, printed once (or written to ``--password-file``, mode 0600). It
  is never logged. Run again on an existing user without a password option, it keeps
  the password (``--rotate`` makes a new one).
* **disable**: clears the user's permissions on the vhost, closes its open connections
  there, and deletes the user when it holds no permission on any vhost (users are global
  to the broker), so its password stops working at all. The exchange is kept. The
  declare step (``park topology declare``, ``make run``) grants a *built-in* system again.
* **list**: every built-in system, and every user whose permissions on the vhost are an
  ingress system's, with its exchange and status.

Exit codes: 0 done (or nothing to change); 1 refused, nothing changed (a bad or reserved
name, the topology not declared, a missing password, the broker or its management API
unreachable); 2 a usage error (typer's).
"""

import os
import re
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from shared.messaging.amqp_client import CONNECTION_ERRORS, BrokerAddress
from shared.messaging.identities import (
    FIRMS,
    PARK_CLI,
    MissingPassword,
    Permissions,
    ingress_permissions,
    password_for,
)
from shared.messaging.management import ManagementClient, ManagementUnavailable
from shared.messaging.topology import (
    ALTERNATE_EXCHANGE_POLICY,
    INGRESS_SOURCES,
    SERVICES,
    events_exchange,
)
from shared.settings import MessagingSettings, load_config_file

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG = ROOT / "config" / "development.yaml"
BUILT_IN = tuple(s for s in INGRESS_SOURCES if s != FIRMS)
SYSTEM_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")  # what the *.events policy matches
RESERVED = {*SERVICES, FIRMS, PARK_CLI, "park", "guest", "nameko"}

systems = typer.Typer(
    help="Ingress systems' broker users: add, list, disable.", no_args_is_help=True
)
console = Console() if sys.stdout.isatty() else Console(width=240)

ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", envvar="PARK_CONFIG", help="nameko config file")
]
SystemArgument = Annotated[str, typer.Argument(help="the system, e.g. portal, gov, customs")]


class Refusal(Exception):
    """Something the operator must fix first; nothing was changed."""


def fail(message: str) -> None:
    console.print(f"[bold red]error:[/] {escape(message)}")
    raise typer.Exit(1)


def check_name(system: str) -> None:
    if not SYSTEM_NAME.match(system):
        raise Refusal(
            f"{system!r} is not a system name: lower-case letters, digits, '-' and '_', "
            "starting with a letter, at most 63 characters"
        )
    if system in RESERVED or system.startswith(("firm-", "rpc-")):
        raise Refusal(f"{system!r} is reserved (a service, the firms, the CLI or the broker)")


@dataclass(frozen=True)
class SystemState:
    """What the broker holds of one system on the vhost."""

    system: str
    user: bool
    permissions: Permissions | None
    exchange: bool
    alternate_exchange: bool

    @property
    def status(self) -> str:
        if self.permissions is None:
            # An exchange without permissions: it was here and was disabled.
            return "disabled" if self.exchange else "not provisioned"
        if self.permissions != ingress_permissions(self.system):
            return "permissions differ"
        if not self.exchange:
            return "no exchange"
        return "ok" if self.alternate_exchange else "no alternate exchange"


@dataclass
class SystemsBroker:
    """The ingress systems of one vhost (AMQP for the exchange, management API for the rest)."""

    address: BrokerAddress
    management: ManagementClient

    @property
    def vhost(self) -> str:
        return self.address.vhost

    def state(self, system: str) -> SystemState:
        found = self.management.permissions(self.vhost, system)
        exchange = self.management.exchange_or_none(self.vhost, events_exchange(system))
        return SystemState(
            system=system,
            user=self.management.get_user(system) is not None,
            permissions=_permissions(found) if found else None,
            exchange=exchange is not None,
            alternate_exchange=bool(exchange)
            and exchange.get("policy") == ALTERNATE_EXCHANGE_POLICY,
        )

    def listed(self) -> list[SystemState]:
        """The built-in systems and every user with an ingress system's permissions here."""
        names = set(BUILT_IN)
        for entry in self.management.vhost_permissions(self.vhost):
            user = str(entry.get("user", ""))
            if _permissions(entry) == ingress_permissions(user):
                names.add(user)
        return [self.state(name) for name in sorted(names)]

    def topology_declared(self) -> bool:
        policies = self.management.policies(self.vhost)
        return any(policy.get("name") == ALTERNATE_EXCHANGE_POLICY for policy in policies)

    def declare_exchange(self, system: str) -> bool:
        """Declare ``<system>.events`` (idempotent); True if it was not there."""
        name = events_exchange(system)
        new = self.management.exchange_or_none(self.vhost, name) is None
        connection = self.address.connect(timeout=10)
        try:
            connection.channel().exchange_declare(name, "topic", durable=True, auto_delete=False)
        finally:
            connection.collect()
        return new

    def grant(self, system: str, password: str | None) -> list[str]:
        """The user (with ``password``, or as it is when None) and its permissions."""
        changes = []
        if password is not None:
            existed = self.management.get_user(system) is not None
            self.management.put_user(system, password)  # no tags: not a management user
            changes.append(f"user {system} {'password set' if existed else 'created'}")
        wanted = ingress_permissions(system)
        found = self.management.permissions(self.vhost, system)
        if not found or _permissions(found) != wanted:
            self.management.set_permissions(
                self.vhost, system, wanted.configure, wanted.write, wanted.read
            )
            changes.append(f"permissions of {system} on vhost {self.vhost!r} set")
        return changes

    def revoke(self, system: str) -> list[str]:
        changes = []
        if self.management.permissions(self.vhost, system) is not None:
            self.management.clear_permissions(self.vhost, system)
            changes.append(f"permissions of {system} on vhost {self.vhost!r} cleared")
        here = [c for c in self.management.user_connections(system) if c.get("vhost") == self.vhost]
        for connection in here:
            self.management.close_connection(connection["name"])
        if here:
            changes.append(f"{len(here)} open connection(s) of {system} closed")
        if self.management.get_user(system) is not None and not self.management.user_permissions(
            system
        ):
            self.management.delete_user(system)
            changes.append(f"user {system} deleted")
        return changes


def _permissions(entry) -> Permissions:
    return Permissions(str(entry.get("configure")), str(entry.get("write")), str(entry.get("read")))


def _broker(config: Path) -> tuple[SystemsBroker, MessagingSettings]:
    settings = MessagingSettings.from_config(load_config_file(config))
    address = BrokerAddress.from_uri(settings.amqp_uri)
    management = ManagementClient.for_broker(settings.management_url, address)
    return SystemsBroker(address, management), settings


def _password(
    system: str,
    given: str | None,
    rotate: bool,
    exists: bool,
    settings: MessagingSettings,
) -> tuple[str | None, bool]:
    """(the password to set or None to keep it, whether it was generated here)."""
    if given is not None:
        if not given:
            raise Refusal("the password is empty")
        return given, False
    if rotate or not exists:
        if system in BUILT_IN and not rotate and settings.broker_passwords is not None:
            try:
                return password_for(system, settings.broker_passwords), False
            except MissingPassword as error:
                raise Refusal(f"{error}; or pass --password") from None
        return secrets.token_urlsafe(24), True
    return None, False


def _hand_over(system: str, password: str, password_file: Path | None) -> None:
    """Give a generated password to the operator once: on stdout, or in a private file."""
    if password_file is None:
        console.print(f"password of {system} (shown once, store it now): {password}")
        return
    descriptor = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(password + "\n")
    console.print(f"password of {system} written to {password_file} (mode 0600)")


@systems.command("add")
def systems_add(
    system: SystemArgument,
    password: Annotated[
        str | None,
        typer.Option(
            "--password",
            envvar="SYSTEM_BROKER_PASSWORD",
            show_envvar=True,
            help="default: BROKER_PASSWORDS.<system> for a built-in system, else generated",
        ),
    ] = None,
    rotate: Annotated[
        bool, typer.Option("--rotate", help="an existing user: set a new generated password")
    ] = False,
    password_file: Annotated[
        Path | None,
        typer.Option("--password-file", help="write a generated password here, not on stdout"),
    ] = None,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Provision an ingress system: its exchange <system>.events and its broker user,
    which may publish there and do nothing else."""
    try:
        check_name(system)
        broker, settings = _broker(config)
        existing = broker.management.get_user(system)
        if existing is not None and existing.get("tags"):
            raise Refusal(f"user {system!r} exists with tags {existing['tags']!r}: not a system")
        if not broker.topology_declared():
            raise Refusal(
                f"the park's topology is not declared on vhost {broker.vhost!r} (no policy "
                f"{ALTERNATE_EXCHANGE_POLICY}): run park topology declare first"
            )
        secret, generated = _password(system, password, rotate, existing is not None, settings)
        changes = []
        if broker.declare_exchange(system):
            changes.append(f"exchange {events_exchange(system)} declared")
        changes += broker.grant(system, secret)
    except (Refusal, ManagementUnavailable, RuntimeError) as error:  # RuntimeError: the API
        fail(str(error))
    except CONNECTION_ERRORS as error:
        fail(f"the broker refused or is unreachable: {error!r}")
    for change in changes or [f"{system}: nothing to change"]:
        console.print(f"  {escape(change)}")
    if generated:
        _hand_over(system, secret, password_file)
    state = broker.state(system)
    if state.status != "ok":
        fail(f"{system}: {state.status} after add")
    console.print(
        f"{system}: ok — publishes on {events_exchange(system)} as user {system} "
        f"(vhost {broker.vhost!r})"
    )


@systems.command("list")
def systems_list(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """The ingress systems on the vhost: user, permissions, exchange, status."""
    try:
        broker, _ = _broker(config)
        states = broker.listed()
    except (ManagementUnavailable, RuntimeError) as error:
        fail(str(error))
    table = Table("system", "user", "configure", "write", "read", "exchange", "status")
    for state in states:
        granted = state.permissions
        table.add_row(
            state.system,
            "yes" if state.user else "no",
            *(escape(p) for p in (granted.__dict__.values() if granted else ("-", "-", "-"))),
            events_exchange(state.system) if state.exchange else "-",
            state.status,
        )
    console.print(table)


@systems.command("disable")
def systems_disable(system: SystemArgument, config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Revoke a system: clear its permissions here, close its connections, delete its
    user once it has no permission on any vhost. Its exchange is kept."""
    try:
        check_name(system)
        broker, _ = _broker(config)
        changes = broker.revoke(system)
    except Refusal as error:
        fail(str(error))
    except (ManagementUnavailable, RuntimeError) as error:
        fail(str(error))
    for change in changes or [f"{system}: nothing to change (not provisioned here)"]:
        console.print(f"  {escape(change)}")
    if system in BUILT_IN:
        console.print(
            f"note: {system} is built in: the declare step (park topology declare, make run) "
            f"grants it again; change BROKER_PASSWORDS.{system} before that"
        )
