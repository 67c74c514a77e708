"""``park systems add|list|disable <system>``: the broker users of ingress systems.

An ingress system (the portal, the joint-review departments ``gov``, the bank gateway,
the meter system, or one added later) publishes its events on its own exchange
``<system>.events`` as its own broker user ``<system>``, which may do nothing else
(:func:`~shared.messaging.identities.ingress_permissions`: configure nothing, write
``^<system>\\.events$``, read nothing). The declare step provisions the four built-in
systems; these commands add, list and revoke them one by one, through the management API.

* Neither command touches a user that is not an ingress system of this vhost: a
  reserved name (a service, ``firms``, ``park-cli``, ``park-admin``, ``guest``, a firm's
  ``firm-…``), a user with tags (an administrator), or a user whose permissions on the
  vhost are not exactly a system's is refused, and so is a password for a user that is
  not already this system here (users and passwords are global to the broker).
* **add**: checks the name (lower-case letters, digits, ``-`` and ``_``) and the user as
  above, checks that the topology is declared (the policy ``park-alternate-exchange``),
  declares the topic exchange ``<system>.events`` (durable; the policy gives it the
  alternate exchange ``park.unrouted``, as for every ``*.events`` exchange), then creates
  the user and sets its permissions on the vhost. The password is ``--password`` (or
  ``$SYSTEM_BROKER_PASSWORD``); else, for a built-in system, its ``BROKER_PASSWORDS`` entry;
  else a new random one, printed once (or written to ``--password-file``, mode 0600). It
  is never logged. Run again on an existing user without a password option, it keeps
  the password (``--rotate`` makes a new one); a user of another vhost (the same system
  there) is granted here with its password unchanged.
* **disable**: clears the user's permissions on the vhost, closes its open connections
  there, and deletes the user when it holds no permission on any other vhost (users are
  global to the broker), so its password stops working at all; a user that still holds
  permissions elsewhere is kept, and the output says so. The exchange is kept. The
  declare step (``park topology declare``, ``make run``) grants a *built-in* system again.
* **list**: every built-in system, and every user whose permissions on the vhost are an
  ingress system's, with its exchange and status.

Exit codes: 0 done (or nothing to change); 1 refused, nothing changed (a bad or reserved
name, a user that is not this vhost's system, a password for a user of another vhost,
the topology not declared, a missing password, the broker or its management API
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
# The services, the firms' exchange, the CLI, deploy/'s development administrator, the
# broker's default user: never an ingress system, whatever their permissions say.
RESERVED = {*SERVICES, FIRMS, PARK_CLI, "park", "park-admin", "guest", "nameko"}

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
        raise Refusal(
            f"{system!r} is reserved (a service, the firms or a firm, the CLI, the "
            "administrator or the broker's own user)"
        )


def _shape(entry) -> str:
    """``configure '…', write '…', read '…'`` of a permissions entry, for a message."""
    return ", ".join(f"{what} {entry.get(what)!r}" for what in ("configure", "write", "read"))


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

    def other_vhosts(self, system: str) -> list[str]:
        """The other vhosts where the user ``system`` holds permissions."""
        return sorted(
            str(entry.get("vhost"))
            for entry in self.management.user_permissions(system)
            if entry.get("vhost") != self.vhost
        )

    def check_is_system(self, system: str, *, changing_password: bool) -> None:
        """Refuse (nothing changed) to touch a user that is not this vhost's system.

        Users are global to the broker: a tagged user (an administrator, a management
        user) is never a system; a user whose permissions here are not exactly a system's
        is someone else (setting them would narrow it); and a password is global, so it
        is set only on a user that already is this system here (a user of another vhost
        keeps its password; without a password option it may be granted here as well,
        when everywhere else it is the same system). Nor is a password set, nor a user
        granted here, that is something else on another vhost.
        """
        user = self.management.get_user(system)
        if user is None:
            return
        if user.get("tags"):
            raise Refusal(
                f"user {system!r} exists with tags {user['tags']!r}: a management or "
                "administrator user, not an ingress system; nothing changed"
            )
        here = self.management.permissions(self.vhost, system)
        if here is not None and _permissions(here) != ingress_permissions(system):
            raise Refusal(
                f"user {system!r} has permissions on vhost {self.vhost!r} that are not an "
                f"ingress system's ({_shape(here)}; a system has "
                f"{_shape(ingress_permissions(system).__dict__)}): not a system; "
                "nothing changed"
            )
        elsewhere = [
            entry
            for entry in self.management.user_permissions(system)
            if entry.get("vhost") != self.vhost
        ]
        if here is None and changing_password:
            where = ", ".join(repr(str(entry.get("vhost"))) for entry in elsewhere) or "none"
            raise Refusal(
                f"user {system!r} exists but is not this vhost's system (it holds no "
                f"permissions on vhost {self.vhost!r}; permissions on other vhosts: {where}): "
                "its password is global to the broker and is not changed from here; add it "
                "without --password/--rotate to grant it here with its password, or choose "
                "another name"
            )
        foreign = [e for e in elsewhere if _permissions(e) != ingress_permissions(system)]
        if foreign and (here is None or changing_password):
            # Granting it here, or a password that is also its password there.
            raise Refusal(
                f"user {system!r} exists with permissions that are not an ingress system's "
                f"on vhost {foreign[0].get('vhost')!r} ({_shape(foreign[0])}): not only "
                "a system; nothing changed"
            )

    def revoke(self, system: str) -> list[str]:
        """Clear the system's permissions here, close its connections here, and delete
        its user once it holds no permission anywhere — after :meth:`check_is_system`."""
        self.check_is_system(system, changing_password=False)
        changes = []
        cleared = self.management.permissions(self.vhost, system) is not None
        if cleared:
            self.management.clear_permissions(self.vhost, system)
            changes.append(f"permissions of {system} on vhost {self.vhost!r} cleared")
        here = [c for c in self.management.user_connections(system) if c.get("vhost") == self.vhost]
        for connection in here:
            self.management.close_connection(connection["name"])
        if here:
            changes.append(f"{len(here)} open connection(s) of {system} closed")
        if not cleared or self.management.get_user(system) is None:
            # Only a user that was this vhost's system a moment ago is deleted.
            return changes
        others = self.other_vhosts(system)
        if others:
            changes.append(
                f"user {system} kept: it still holds permissions on vhost(s) "
                f"{', '.join(repr(v) for v in others)} (users are global to the broker), "
                "and its password still works there"
            )
        else:
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
        broker.check_is_system(system, changing_password=password is not None or rotate)
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
    if secret is not None and existing is not None and (others := broker.other_vhosts(system)):
        console.print(
            f"note: user {system} also publishes on vhost(s) {', '.join(others)}: the new "
            "password applies there too (users are global to the broker)"
        )
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
