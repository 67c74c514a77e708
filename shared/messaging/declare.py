"""The declare step: make the broker hold a :class:`~shared.messaging.topology.Topology`.

Idempotent; run by ``make run`` before any service starts, by the test fixtures, and
mirrored by ``deploy/rabbitmq/definitions.json``. Exchanges, queues and bindings go over
AMQP; the alternate exchange is set by a *policy* (management API) rather than an
exchange argument, so that nameko's own ``EventDispatcher`` / ``event_handler``, which
declare ``<source>.events`` without arguments, still declare it equivalently.
"""

import structlog

from shared.messaging.amqp_client import BrokerAddress
from shared.messaging.management import ManagementClient
from shared.messaging.topology import (
    ALTERNATE_EXCHANGE_POLICY,
    EVENTS_EXCHANGE_PATTERN,
    UNROUTED,
    Topology,
)

log = structlog.get_logger(__name__)


def declare_topology(topology: Topology, amqp_uri: str, management_url: str | None = None):
    address = BrokerAddress.from_uri(amqp_uri)
    connection = address.connect()
    try:
        channel = connection.channel()
        for exchange in topology.exchanges():
            channel.exchange_declare(exchange.name, exchange.type, durable=True, auto_delete=False)
        for queue in topology.queues():
            channel.queue_declare(
                queue.name, durable=True, auto_delete=False, arguments=queue.arguments
            )
        for binding in topology.bindings():
            channel.queue_bind(binding.queue, binding.exchange, binding.routing_key)
    finally:
        connection.close()
    ManagementClient.for_broker(management_url, address).put_policy(
        address.vhost,
        ALTERNATE_EXCHANGE_POLICY,
        EVENTS_EXCHANGE_PATTERN,
        "exchanges",
        {"alternate-exchange": UNROUTED},
    )
    log.info(
        "topology declared",
        vhost=address.vhost,
        exchanges=len(topology.exchanges()),
        queues=len(topology.queues()),
    )
