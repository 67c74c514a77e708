"""The broker topology of DESIGN §6, defined once and declared before any service starts.

This module is the single source of queue arguments: the declare step (``make run``,
``python -m shared.tooling.cli topology declare``), the test fixtures and ``deploy/`` all derive
what they declare from a :class:`Topology`. Services never declare; their consumers check
passively that their queue exists, so a queue is never re-declared with other arguments.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

UNROUTED = "park.unrouted"
WORK_EXCHANGE = "ticketing.work"  # direct: routing key = firm id → queue firm.<firm_id>.work
ALTERNATE_EXCHANGE_POLICY = "park-alternate-exchange"
EVENTS_EXCHANGE_PATTERN = r"^[a-z0-9_-]+\.events$"

SERVICES = ("onboarding", "ticketing", "billing", "buyback")
INGRESS_SOURCES = ("portal", "gov", "bank", "meters", "firms")
DEFAULT_RETRY_DELAYS = (1, 10, 60, 300, 1800)
UNROUTED_TTL_MS = 14 * 24 * 3600 * 1000
# Deliveries of one copy of a message before the broker dead-letters it to <service>.dlq.
# The consumer's own path never redelivers a copy (a retry is a fresh copy through a
# retry queue; a refused republish keeps the original unacked, backing off, never
# requeued), so only crashes, lost connections and the consumer's last-resort reject
# count: twenty of those on one message mean the consumer cannot settle it.
DEFAULT_DELIVERY_LIMIT = 20
WORK_QUEUE_POLICY = "park-work-queues-{service}"
DEAD_LETTER_POLICY = "park-dead-letters-{service}"
UNROUTED_POLICY = "park-unrouted"
FIRM_QUEUE_POLICY = "park-firm-queues"
# firm.<firm_id>.work for any firm id ticketing accepts (lower-case letters, digits and
# inner hyphens: no dots), whenever provisioning declares it.
FIRM_QUEUE_PATTERN = r"^firm\.[a-z0-9-]+\.work$"


def events_exchange(source: str) -> str:
    return f"{source}.events"


def retry_exchange(service: str, delay_seconds: int) -> str:
    """Both the fanout exchange and the queue of one retry level share this name."""
    return f"{service}.retry.{delay_seconds}s"


def dead_letter_queue(service: str) -> str:
    return f"{service}.dlq"


def firm_work_queue(firm_id: str) -> str:
    return f"firm.{firm_id}.work"


@dataclass(frozen=True)
class Subscription:
    """A service consumes one event type of one source from its own work queue."""

    service: str
    source: str
    type: str

    @property
    def queue(self) -> str:
        return f"{self.service}.{self.source}.{self.type}"

    @property
    def exchange(self) -> str:
        return events_exchange(self.source)


@dataclass(frozen=True)
class Exchange:
    name: str
    type: str


@dataclass(frozen=True)
class Queue:
    name: str
    arguments: dict[str, Any] = field(hash=False)


@dataclass(frozen=True)
class Binding:
    queue: str
    exchange: str
    routing_key: str


@dataclass(frozen=True)
class Policy:
    """A RabbitMQ policy: applies to existing and future objects whose name matches, and
    can change without re-declaring them (queue arguments cannot)."""

    name: str
    pattern: str
    apply_to: str  # "queues" | "exchanges"
    definition: dict[str, Any] = field(hash=False)
    priority: int = 0


@dataclass(frozen=True)
class Topology:
    """Everything the broker must hold for a set of services and their subscriptions."""

    services: tuple[str, ...]
    sources: tuple[str, ...]
    subscriptions: tuple[Subscription, ...] = ()
    retry_delays: tuple[int, ...] = DEFAULT_RETRY_DELAYS
    queue_type: str = "quorum"
    delivery_limit: int = DEFAULT_DELIVERY_LIMIT

    def __post_init__(self) -> None:
        unknown = {s.service for s in self.subscriptions} - set(self.services)
        if unknown:
            raise ValueError(f"subscriptions name services not in the topology: {unknown}")
        if list(self.retry_delays) != sorted(set(self.retry_delays)) or not self.retry_delays:
            raise ValueError("retry_delays must be a non-empty, strictly increasing ladder")
        if self.queue_type not in ("quorum", "classic"):
            raise ValueError("queue_type is 'quorum' or 'classic'")
        if self.delivery_limit < 1:
            raise ValueError("delivery_limit must be at least 1")

    def subscription(self, service: str, source: str, type_: str) -> Subscription:
        wanted = Subscription(service, source, type_)
        if wanted not in self.subscriptions:
            raise KeyError(f"{wanted.queue} is not in the topology")
        return wanted

    def exchanges(self) -> list[Exchange]:
        found = [Exchange(UNROUTED, "fanout"), Exchange(WORK_EXCHANGE, "direct")]
        found += [Exchange(events_exchange(s), "topic") for s in self.all_sources()]
        found += [
            Exchange(retry_exchange(svc, delay), "fanout")
            for svc in self.services
            for delay in self.retry_delays
        ]
        return found

    def all_sources(self) -> list[str]:
        """Every publishing system: the services themselves and the ingress systems."""
        return sorted(set(self.services) | set(self.sources))

    def queues(self) -> list[Queue]:
        found = [Queue(UNROUTED, self._args({"x-message-ttl": UNROUTED_TTL_MS}))]
        found += [Queue(s.queue, self._args()) for s in self.subscriptions]
        for service in self.services:
            found.append(Queue(dead_letter_queue(service), self._args()))
            found += [
                Queue(retry_exchange(service, delay), self._retry_args(delay))
                for delay in self.retry_delays
            ]
        return found

    def bindings(self) -> list[Binding]:
        found = [Binding(UNROUTED, UNROUTED, "")]
        found += [Binding(s.queue, s.exchange, s.type) for s in self.subscriptions]
        found += [
            Binding(retry_exchange(svc, delay), retry_exchange(svc, delay), "")
            for svc in self.services
            for delay in self.retry_delays
        ]
        return found

    def work_queues(self, service: str) -> set[str]:
        """The queues a service consumes from: the only places its dead letters go back to."""
        return {s.queue for s in self.subscriptions if s.service == service}

    def policies(self, broker_major: int = 3) -> list[Policy]:
        """The alternate exchange of every ``<source>.events``, and per service the
        broker's own net under its work queues: a delivery limit, past which the broker
        dead-letters the message to ``<service>.dlq`` (with ``x-death``).

        Quorum dead-lettering is at-most-once unless ``at-least-once`` *and*
        ``reject-publish`` are both set. Only work queues match: not the DLQ (reading
        it must never drop a letter), not the retry queues (their arguments already
        dead-letter back), not firms' queues (their consumer is a firm).

        RabbitMQ 4 gives every quorum queue a delivery limit of 20 unless a policy says
        otherwise, and reading a DLQ (get, then give back) counts as a delivery: from
        ``broker_major`` 4 on, DLQs and ``park.unrouted`` (read the same way) get
        ``delivery-limit: -1`` (unlimited), and so do the firms' queues
        ``firm.<firm_id>.work`` (:data:`FIRM_QUEUE_PATTERN`: one policy for the firms
        provisioned later too): they have no dead-letter exchange, so at the limit the
        broker would *drop* a work item after 20 redeliveries to a firm's client. 3.x has
        no default limit and refuses -1, so there they get no policy at all.
        """
        found = [
            Policy(
                ALTERNATE_EXCHANGE_POLICY,
                EVENTS_EXCHANGE_PATTERN,
                "exchanges",
                {"alternate-exchange": UNROUTED},
            )
        ]
        found += [
            Policy(
                WORK_QUEUE_POLICY.format(service=service),
                work_queue_pattern(service),
                "queues",
                {
                    "delivery-limit": self.delivery_limit,
                    "dead-letter-exchange": "",
                    "dead-letter-routing-key": dead_letter_queue(service),
                    "dead-letter-strategy": "at-least-once",
                    "overflow": "reject-publish",
                },
            )
            for service in self.services
        ]
        if broker_major >= 4:
            found += [
                Policy(
                    DEAD_LETTER_POLICY.format(service=service),
                    rf"^{re.escape(dead_letter_queue(service))}$",
                    "queues",
                    {"delivery-limit": -1},
                )
                for service in self.services
            ]
            unlimited = {"delivery-limit": -1}
            found.append(Policy(UNROUTED_POLICY, rf"^{re.escape(UNROUTED)}$", "queues", unlimited))
            found.append(Policy(FIRM_QUEUE_POLICY, FIRM_QUEUE_PATTERN, "queues", unlimited))
        return found

    def firm_work(self, firm_id: str) -> tuple[Queue, Binding]:
        """A resident firm's durable work queue, declared when the firm is provisioned."""
        name = firm_work_queue(firm_id)
        return Queue(name, self._args()), Binding(name, WORK_EXCHANGE, firm_id)

    def _args(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        return {"x-queue-type": self.queue_type, **(extra or {})}

    def _retry_args(self, delay_seconds: int) -> dict[str, Any]:
        # Queue-level TTL (never per-message: those block behind their head). On expiry
        # the message dead-letters through the default exchange with its routing key,
        # which is the name of the work queue it came from.
        args = {"x-message-ttl": delay_seconds * 1000, "x-dead-letter-exchange": ""}
        if self.queue_type == "quorum":
            # Without both, a quorum queue drops messages it cannot dead-letter.
            args |= {"x-dead-letter-strategy": "at-least-once", "x-overflow": "reject-publish"}
        return self._args(args)


def work_queue_pattern(service: str) -> str:
    """``<service>.<source>.<type>``: three names, the second neither ``retry`` nor
    ``dlq`` (the DLQ itself, ``<service>.dlq``, has two)."""
    return rf"^{re.escape(service)}\.(?!(?:retry|dlq)\.)[a-z0-9_-]+\.[a-z0-9_-]+$"


def build_topology(
    subscriptions: Iterable[tuple[str, str, str]],
    *,
    services: Iterable[str] = SERVICES,
    sources: Iterable[str] = INGRESS_SOURCES,
    retry_delays: Iterable[int] = DEFAULT_RETRY_DELAYS,
    queue_type: str = "quorum",
    delivery_limit: int = DEFAULT_DELIVERY_LIMIT,
) -> Topology:
    return Topology(
        services=tuple(services),
        sources=tuple(sources),
        subscriptions=tuple(Subscription(*s) for s in subscriptions),
        retry_delays=tuple(retry_delays),
        queue_type=queue_type,
        delivery_limit=delivery_limit,
    )


# Every subscription of every service. A service's handler whose queue is missing here
# refuses to start (tests/unit/test_topology.py also checks the two agree).
PARK_SUBSCRIPTIONS: tuple[tuple[str, str, str], ...] = (
    ("onboarding", "portal", "application_submitted"),
    ("onboarding", "gov", "review_decided"),
    ("onboarding", "portal", "documents_supplied"),
    ("onboarding", "buyback", "claim_settled"),
    ("onboarding", "portal", "application_withdrawn"),
    ("ticketing", "onboarding", "enterprise_admitted"),
    ("ticketing", "onboarding", "chief_service_officer_reassigned"),
    ("ticketing", "portal", "service_requested"),
    ("ticketing", "portal", "ticket_replied"),
    ("ticketing", "portal", "ticket_rated"),
    ("ticketing", "buyback", "claim_review_requested"),
    ("ticketing", "buyback", "claim_withdrawn"),
    ("ticketing", "buyback", "claim_rejected"),
    ("ticketing", "firms", "work_accepted"),
    ("ticketing", "firms", "work_declined"),
    ("ticketing", "firms", "work_progressed"),
    ("ticketing", "firms", "work_completed"),
    ("billing", "onboarding", "enterprise_admitted"),
    ("billing", "onboarding", "units_allocated"),
    ("billing", "onboarding", "units_released"),
    ("billing", "meters", "reading_recorded"),
    ("billing", "ticketing", "ticket_resolved"),
    ("billing", "bank", "payment_received"),
    ("billing", "buyback", "settlement_requested"),
    ("billing", "buyback", "claim_settled"),
    ("buyback", "onboarding", "enterprise_admitted"),
    ("buyback", "onboarding", "units_allocated"),
    ("buyback", "onboarding", "production_started"),
    ("buyback", "onboarding", "units_released"),
    ("buyback", "portal", "buyback_requested"),
    ("buyback", "portal", "buyback_withdrawn"),
    ("buyback", "ticketing", "ticket_resolved"),
    ("buyback", "billing", "buyback_settlement_computed"),
    ("buyback", "onboarding", "release_refused"),
    ("buyback", "billing", "buyback_netted"),
)


def park_topology(
    retry_delays: Iterable[int] = DEFAULT_RETRY_DELAYS,
    delivery_limit: int = DEFAULT_DELIVERY_LIMIT,
) -> Topology:
    return build_topology(
        PARK_SUBSCRIPTIONS, retry_delays=retry_delays, delivery_limit=delivery_limit
    )
