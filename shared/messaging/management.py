"""A thin client of the RabbitMQ management HTTP API (plugin ``rabbitmq_management``).

Used for what AMQP cannot do: policies, vhosts, users and permissions, queue statistics.
"""

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlparse

import requests

from shared.messaging.amqp_client import BrokerAddress


class ManagementUnavailable(RuntimeError):
    """The management API did not answer: the plugin is probably not enabled."""


@dataclass
class ManagementClient:
    """Calls ``/api/...`` on one broker as one user."""

    base_url: str
    user: str
    password: str
    timeout: float = 10.0

    @classmethod
    def for_broker(cls, management_url: str | None, address: BrokerAddress) -> "ManagementClient":
        """Credentials come from the management URL if it has them, else from the AMQP URI."""
        parts = urlparse(management_url or f"http://{address.host}:15672")
        base = f"{parts.scheme}://{parts.hostname}:{parts.port or 15672}"
        return cls(base, parts.username or address.user, parts.password or address.password)

    def _call(self, method: str, path: str, json: Any = None) -> Any:
        url = f"{self.base_url}/api/{path}"
        try:
            response = requests.request(
                method, url, json=json, auth=(self.user, self.password), timeout=self.timeout
            )
        except requests.ConnectionError as error:
            raise ManagementUnavailable(
                f"the RabbitMQ management API at {self.base_url} is not reachable ({error}); "
                "enable it with: rabbitmq-plugins enable rabbitmq_management"
            ) from None
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {url} → {response.status_code}: {response.text[:300]}")
        return response.json() if response.content else None

    @staticmethod
    def _q(name: str) -> str:
        return quote(name, safe="")

    def overview(self) -> dict:
        return self._call("GET", "overview")

    def broker_major(self) -> int:
        """RabbitMQ's major version (3 for 3.10.8), where defaults differ (see topology)."""
        version = str(self.overview().get("rabbitmq_version", "3"))
        major = version.split(".", 1)[0]
        return int(major) if major.isdigit() else 3

    def create_vhost(self, vhost: str) -> None:
        self._call("PUT", f"vhosts/{self._q(vhost)}")

    def delete_vhost(self, vhost: str, *, missing_ok: bool = False) -> None:
        path = f"vhosts/{self._q(vhost)}"
        if missing_ok:
            self._call_optional("DELETE", path)
        else:
            self._call("DELETE", path)

    def set_permissions(self, vhost: str, user: str, configure: str, write: str, read: str):
        body = {"configure": configure, "write": write, "read": read}
        self._call("PUT", f"permissions/{self._q(vhost)}/{self._q(user)}", body)

    def put_user(self, user: str, password: str, tags: str = "") -> None:
        self._call("PUT", f"users/{self._q(user)}", {"password": password, "tags": tags})

    def delete_user(self, user: str) -> None:
        self._call("DELETE", f"users/{self._q(user)}")

    def _call_optional(self, method: str, path: str) -> Any:
        """Like :meth:`_call`, but None when the object is not there (404)."""
        try:
            return self._call(method, path)
        except RuntimeError as error:
            if isinstance(error, ManagementUnavailable) or " → 404:" not in str(error):
                raise
            return None

    def _get_optional(self, path: str) -> Any:
        return self._call_optional("GET", path)

    def get_user(self, user: str) -> dict | None:
        """The user (``password_hash``, ``hashing_algorithm``, ``tags``), None if absent."""
        return self._get_optional(f"users/{self._q(user)}")

    def permissions(self, vhost: str, user: str) -> dict | None:
        """The user's permissions on ``vhost``, None if it has none there."""
        return self._get_optional(f"permissions/{self._q(vhost)}/{self._q(user)}")

    def user_permissions(self, user: str) -> list[dict]:
        """The user's permissions on every vhost (empty if none or no such user)."""
        return self._get_optional(f"users/{self._q(user)}/permissions") or []

    def vhost_permissions(self, vhost: str) -> list[dict]:
        """Every user's permissions on ``vhost`` (``user``, ``configure``, ``write``, ``read``)."""
        return self._get_optional(f"vhosts/{self._q(vhost)}/permissions") or []

    def exchange_or_none(self, vhost: str, name: str) -> dict | None:
        """The exchange (with the ``policy`` applied to it), None if it does not exist."""
        return self._get_optional(f"exchanges/{self._q(vhost)}/{self._q(name)}")

    def clear_permissions(self, vhost: str, user: str) -> None:
        self._call("DELETE", f"permissions/{self._q(vhost)}/{self._q(user)}")

    def user_connections(self, user: str) -> list[dict]:
        """The open AMQP connections of ``user`` (each with ``name`` and ``vhost``)."""
        return self._get_optional(f"connections/username/{self._q(user)}") or []

    def close_connection(self, name: str) -> None:
        """Close one connection; a connection already gone is no error."""
        self._call_optional("DELETE", f"connections/{self._q(name)}")

    def bindings_between(self, vhost: str, exchange: str, queue: str) -> list[dict]:
        """The bindings of ``queue`` to ``exchange`` (empty if either is absent)."""
        path = f"bindings/{self._q(vhost)}/e/{self._q(exchange)}/q/{self._q(queue)}"
        return self._get_optional(path) or []

    def vhost_or_none(self, vhost: str) -> dict | None:
        return self._get_optional(f"vhosts/{self._q(vhost)}")

    def queue_or_none(self, vhost: str, name: str) -> dict | None:
        return self._get_optional(f"queues/{self._q(vhost)}/{self._q(name)}")

    def put_policy(
        self,
        vhost: str,
        name: str,
        pattern: str,
        apply_to: str,
        definition: dict,
        *,
        priority: int = 0,
    ):
        body = {
            "pattern": pattern,
            "apply-to": apply_to,
            "definition": definition,
            "priority": priority,
        }
        self._call("PUT", f"policies/{self._q(vhost)}/{self._q(name)}", body)

    def policies(self, vhost: str) -> list[dict]:
        return self._call("GET", f"policies/{self._q(vhost)}")

    def queues(self, vhost: str) -> list[dict]:
        return self._call("GET", f"queues/{self._q(vhost)}")

    def queue(self, vhost: str, name: str) -> dict:
        return self._call("GET", f"queues/{self._q(vhost)}/{self._q(name)}")
