"""Settings of the messaging core, read from the nameko config (``config/*.yaml``).

The config files use nameko's ``${VAR:default}`` substitution; :func:`load_config_file`
reads them the same way for the tools that run outside ``nameko run``.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.messaging.topology import DEFAULT_DELIVERY_LIMIT, DEFAULT_RETRY_DELAYS

DEFAULT_AMQP_URI = "pyamqp://guest:guest@127.0.0.1:5672/"


@dataclass(frozen=True)
class MessagingSettings:
    amqp_uri: str = DEFAULT_AMQP_URI
    management_url: str | None = None
    retry_delays: tuple[int, ...] = DEFAULT_RETRY_DELAYS
    prefetch_count: int = 50
    outbox_batch_size: int = 500
    outbox_poll_interval: float = 1.0
    outbox_retention_days: int = 7
    # A row that failed to publish this many times on its own is quarantined.
    outbox_quarantine_after: int = 5
    inbox_retention_days: int = 30
    relay_enabled: bool = True
    # BROKER_PASSWORDS: broker user → password (shared/messaging/identities.py); None in a
    # config without them (tests): the development passwords dev-<name>.
    broker_passwords: Mapping[str, str] | None = field(default=None, compare=False)
    delivery_limit: int = DEFAULT_DELIVERY_LIMIT  # work queues' policy (the broker's net)
    # SERVICE_USERS: service → the broker user it runs as (its AMQP_URI's user); a service
    # not in it runs as its own name (DESIGN §6). Replay trusts only that user's letters.
    service_users: Mapping[str, str] = field(default_factory=dict, compare=False)
    # PARK_CLI_USER: the broker user the park CLI reads dead letters and park.unrouted as;
    # empty: AMQP_URI's own user (local tooling as guest).
    cli_user: str | None = "park-cli"

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "MessagingSettings":
        outbox = config.get("OUTBOX") or {}
        defaults = cls()
        return cls(
            amqp_uri=config.get("AMQP_URI", defaults.amqp_uri),
            management_url=config.get("MANAGEMENT_URL"),
            retry_delays=tuple(int(d) for d in config.get("RETRY_DELAYS", defaults.retry_delays)),
            prefetch_count=int(config.get("PREFETCH_COUNT", defaults.prefetch_count)),
            outbox_batch_size=int(outbox.get("batch_size", defaults.outbox_batch_size)),
            outbox_poll_interval=float(outbox.get("poll_interval", defaults.outbox_poll_interval)),
            outbox_retention_days=int(outbox.get("retention_days", defaults.outbox_retention_days)),
            outbox_quarantine_after=int(
                outbox.get("quarantine_after", defaults.outbox_quarantine_after)
            ),
            inbox_retention_days=int(
                config.get("INBOX_RETENTION_DAYS", defaults.inbox_retention_days)
            ),
            relay_enabled=bool(outbox.get("relay", True)),
            broker_passwords=config.get("BROKER_PASSWORDS"),
            delivery_limit=int(config.get("DELIVERY_LIMIT", defaults.delivery_limit)),
            service_users=_service_users(config.get("SERVICE_USERS")),
            cli_user=str(config.get("PARK_CLI_USER", defaults.cli_user) or "") or None,
        )

    def service_user(self, service: str) -> str:
        """The broker user ``service`` publishes as: its letters are the ones it wrote."""
        return self.service_users.get(service) or service

    def amqp_uri_as(self, user: str) -> str:
        """``AMQP_URI``'s broker and vhost, connecting as the broker user ``user``."""
        from shared.messaging.identities import amqp_uri_as, password_for

        return amqp_uri_as(self.amqp_uri, user, password_for(user, self.broker_passwords))


def _service_users(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) and v for k, v in value.items()
    ):
        raise ValueError(f"SERVICE_USERS must map service names to broker users: {value!r}")
    return dict(value)


def database_url(config: Mapping[str, Any], service: str) -> str:
    try:
        return config["DATABASES"][service]
    except KeyError:
        raise KeyError(f"no database configured for {service!r}: set DATABASES.{service}") from None


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a nameko YAML config file with its ``${VAR:default}`` substitution."""
    import yaml
    from nameko.cli.utils.config import setup_yaml_parser

    setup_yaml_parser()
    with open(path, encoding="utf-8") as stream:
        return yaml.safe_load(stream) or {}
