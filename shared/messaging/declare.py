"""The declare step: make the broker hold a :class:`~shared.messaging.topology.Topology`.

Idempotent; run by ``make run`` before any service starts, by the test fixtures, and
mirrored by ``deploy/``. Exchanges, queues and bindings go over AMQP; the alternate
exchange and the work queues' delivery limit and dead-lettering are *policies*
(management API) rather than arguments: nameko's own ``EventDispatcher`` /
``event_handler`` declare ``<source>.events`` without arguments and still declare it
equivalently, an existing queue takes a policy (a new argument would fail as
inequivalent), and RabbitMQ 3.10 classic queues refuse ``x-delivery-limit``.
"""

from collections.abc import Mapping

import structlog

from shared.messaging.amqp_client import BrokerAddress
from shared.messaging.identities import provision_identities
from shared.messaging.management import ManagementClient
from shared.messaging.topology import Topology

log = structlog.get_logger(__name__)


def declare_topology(
    topology: Topology,
    amqp_uri: str,
    management_url: str | None = None,
    *,
    passwords: Mapping[str, str] | None = None,  # of the broker users; None: dev-<name>
):
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
    management = ManagementClient.for_broker(management_url, address)
    for policy in topology.policies(broker_major=management.broker_major()):
        management.put_policy(
            address.vhost,
            policy.name,
            policy.pattern,
            policy.apply_to,
            policy.definition,
            priority=policy.priority,
        )
    provision_identities(topology, management, address.vhost, passwords)  # DESIGN §6 Identities
    log.info(
        "topology declared",
        vhost=address.vhost,
        exchanges=len(topology.exchanges()),
        queues=len(topology.queues()),
        policies=len(topology.policies()),
    )
