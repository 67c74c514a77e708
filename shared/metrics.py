"""Prometheus metrics of the messaging core, and the HTTP endpoint that serves them.

Each service process serves ``/metrics`` on its own port (``METRICS_PORTS`` in the config,
e.g. ``{onboarding: 9101}``; no port, no endpoint). Queue depths come from the broker's
own Prometheus plugin or ``park queues``; these say what the services did.
"""

from prometheus_client import Counter, Histogram

EVENTS = Counter(
    "park_events_consumed_total",
    "Messages taken from a work queue, by outcome: applied, duplicate, retried, "
    "dead_lettered (malformed or failed for good), republish_pending (the broker refused "
    "the copy: retried with back-off, then counted again by its outcome), rejected "
    "(cannot be republished at all: left to the broker's dead-letter policy).",
    ["service", "queue", "outcome"],
)
HANDLER_SECONDS = Histogram(
    "park_handler_seconds",
    "Time from receipt to outcome of one message, handler and commit included.",
    ["service", "queue"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
OUTBOX_PUBLISHED = Counter(
    "park_outbox_published_total",
    "Outbox rows published and confirmed by the broker.",
    ["service"],
)
OUTBOX_FAILURES = Counter(
    "park_outbox_relay_failures_total",
    "Relay passes that failed (broker or database).",
    ["service"],
)
OUTBOX_QUARANTINED = Counter(
    "park_outbox_quarantined_total",
    "Outbox rows the relay gave up on after OUTBOX.quarantine_after failures of their own; "
    "kept until an operator releases them (`park outbox list|release`).",
    ["service"],
)

_served_ports: set[int] = set()


def serve(port: int) -> None:
    """Start the ``/metrics`` endpoint once per process and port."""
    from prometheus_client import start_http_server

    if port not in _served_ports:
        start_http_server(port)
        _served_ports.add(port)
