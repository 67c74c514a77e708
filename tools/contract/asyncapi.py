"""The event catalogue: an AsyncAPI 3.0 document made from the contract registry and the
topology (``make contract`` → ``docs/asyncapi.yaml``).

* every exchange is a channel: ``<source>.events`` (topic, durable, alternate exchange
  ``park.unrouted`` by policy), ``ticketing.work`` (direct: the firms' work items),
  ``park.unrouted`` (fanout);
* every subscription's work queue ``<service>.<source>.<type>`` is a channel of its own
  (AMQP binding ``is: queue``) with the queue's arguments and policy, and so is each
  firm's ``firm.{firm_id}.work`` and each service's dead-letter queue;
* every registered event is a message: its envelope (DESIGN §3) with ``source``, ``type``
  and ``version`` fixed, its payload's JSON Schema (:mod:`tools.contract.json_schema`)
  and an example (:mod:`tools.contract.examples`) that passes the contract;
* operations: each publisher sends on its exchange (persistent, mandatory, with its own
  broker user as ``user_id``), each service receives from its work queues.

Nothing here is written by hand per event: a new event or subscription appears with the
next ``make contract``, and ``tests/unit/test_asyncapi.py`` fails while the committed
document is stale.
"""

import tomllib
from pathlib import Path
from typing import Any

import yaml

import shared.contract  # noqa: F401  (fills the registry)
from services.ticketing.domain.events import WorkItem, WorkWithdrawn
from shared.contract.envelope import MAX_BODY_BYTES, MAX_NESTING, EnvelopeSchema
from shared.contract.registry import REGISTRY, EventSpec, Registry
from shared.messaging.delivery import (
    ATTEMPTS,
    ERROR,
    FAILED_AT,
    ORIGINAL_EXCHANGE,
    ORIGINAL_QUEUE,
    ORIGINAL_ROUTING_KEY,
)
from shared.messaging.identities import FIRMS, park_identities
from shared.messaging.topology import (
    ALTERNATE_EXCHANGE_POLICY,
    UNROUTED,
    WORK_EXCHANGE,
    WORK_QUEUE_POLICY,
    Topology,
    dead_letter_queue,
    events_exchange,
    firm_work_queue,
    park_topology,
)
from tools.contract.examples import documented_examples, envelope_for, example_for
from tools.contract.json_schema import JsonSchema, schema_of

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = Path("docs") / "asyncapi.yaml"
AMQP_BINDING_VERSION = "0.3.0"
VHOST = "/"
# The work items ticketing sends to one firm's queue on ticketing.work (not on
# ticketing.events): the message types of the domain's work messages.
WORK_ITEM_TYPES = (WorkItem.message_type, WorkWithdrawn.message_type)
HEADER = """\
# The park's event catalogue (AsyncAPI 3.0). GENERATED: do not edit.
# Made by `make contract` (python -m tools.contract asyncapi) from the contract registry
# (shared/contract/) and the topology (shared/messaging/topology.py); the examples come
# from docs/events.md and docs/onboarding.md. tests/unit/test_asyncapi.py fails when this
# file is stale, and validates it with the AsyncAPI parser (tools/asyncapi/validate.mjs).
"""


def message_id(spec: EventSpec) -> str:
    return f"{spec.key.source}.{spec.key.type}.v{spec.key.version}"


def channel_key(spec: EventSpec) -> str:
    """A message's key in its channel: the type; a later version, ``<type>_v<n>``."""
    return spec.key.type if spec.key.version == 1 else f"{spec.key.type}_v{spec.key.version}"


CONTRACT_PACKAGE = "shared.contract"


def contract_specs(registry: Registry = REGISTRY) -> list[EventSpec]:
    """The park's events: those registered by ``shared/contract/``. The registry is
    process-wide, and the integration tests' services (``alpha``…) register their own
    events in it when a test session imports them: those are not the park's."""
    return [
        spec
        for spec in registry
        if spec.schema_class.__module__.split(".")[:2] == CONTRACT_PACKAGE.split(".")
    ]


def build_document(
    registry: Registry = REGISTRY, topology: Topology | None = None, root: Path = ROOT
) -> dict[str, Any]:
    """The whole AsyncAPI document as plain data."""
    topology = topology or park_topology()
    specs = contract_specs(registry)
    documented = documented_examples(root)
    schemas: dict[str, JsonSchema] = {"envelope": envelope_schema()}
    messages: dict[str, Any] = {}
    for spec in specs:
        payload_schema = schema_of(spec.schema_class, title=f"{spec.key} payload")
        schemas[message_id(spec)] = payload_schema
        example = example_for(spec, payload_schema, documented)
        messages[message_id(spec)] = _message(spec, example.payload, example.origin)
    messages["dead_letter"] = _dead_letter_message()
    channels, operations = _channels_and_operations(specs, topology)
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Park services event catalogue",
            "version": _project_version(root),
            "description": _INFO.format(max_bytes=MAX_BODY_BYTES, max_nesting=MAX_NESTING),
        },
        "defaultContentType": "application/json",
        "servers": {
            "development": {
                "host": "127.0.0.1:5672",
                "protocol": "amqp",
                "protocolVersion": "0.9.1",
                "description": (
                    "The local broker of `make run`, vhost `/`. Every system connects as "
                    "its own broker user (development password `dev-<user>`): deploy/README.md."
                ),
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"schemas": schemas, "messages": messages},
    }


_INFO = """\
Every event of the park's services, and of the systems that publish into them, on
RabbitMQ. Each message body is the **envelope** of `#/components/schemas/envelope` around
the event's payload (UTF-8 JSON). AMQP properties of every event: persistent
(`delivery_mode` 2), `content_type` `application/json`, `message_id` = `event_id`,
`correlation_id`, `timestamp`, `app_id` = the source, `type` = the event type, and
`user_id` = the publisher's own broker user (the broker refuses a mismatch, so consumers
know the verified sender). Routing key = the event type (a firm's id on `ticketing.work`).

Money is integer fen (a JSON integer: `12.5` and `"12"` are invalid), rates and meter
readings decimal strings, dates `YYYY-MM-DD`, times UTC with `Z`. Readers ignore payload
fields they do not know (fields may be added); publishers may not send fields the
contract does not have. Rules between fields (a line's VAT, sums of lines, which ids a
ticket's origin carries) are the contract's (`shared/contract/`), not expressible here;
its schemas are the authority. Every body is at most {max_bytes} bytes of UTF-8 JSON
nested at most {max_nesting} levels, and no string in it (value or key) may hold a NUL
character or a lone surrogate. A malformed message is dead-lettered to the consumer's
`<service>.dlq` with a readable `park-error`; a well-formed one that breaks a business rule
is answered by a rejection event with reason codes. More: docs/messaging.md, docs/events.md.
"""


def envelope_schema() -> JsonSchema:
    """DESIGN §3: unknown envelope fields are refused."""
    described = schema_of(EnvelopeSchema, title="Envelope")
    described["additionalProperties"] = False
    described["description"] = (
        "The fields around every payload. `correlation_id` names the business flow (the "
        "system that starts it makes one; every event caused by another copies it), "
        "`causation_id` the event_id of the causing event or null."
    )
    return described


def _first_sentence(text: str) -> str:
    sentence = text.split(". ", 1)[0]
    return sentence if sentence.endswith(".") else f"{sentence}."


def _message(spec: EventSpec, payload: dict[str, Any], origin: str) -> dict[str, Any]:
    key = spec.key
    description = " ".join((spec.schema_class.__doc__ or "").split())
    return {
        "name": key.type,
        "title": f"{key.source}/{key.type} v{key.version}",
        "summary": _first_sentence(description) or key.type,
        "description": description,
        "contentType": "application/json",
        "correlationId": {
            "description": "The business flow this event belongs to.",
            "location": "$message.payload#/correlation_id",
        },
        "payload": {
            "allOf": [
                {"$ref": "#/components/schemas/envelope"},
                {
                    "type": "object",
                    "properties": {
                        "type": {"const": key.type},
                        "source": {"const": key.source},
                        "version": {"const": key.version},
                        "payload": {"$ref": f"#/components/schemas/{message_id(spec)}"},
                    },
                },
            ]
        },
        "bindings": {"amqp": {"messageType": key.type, "bindingVersion": AMQP_BINDING_VERSION}},
        "examples": [
            {"name": "example", "summary": origin, "payload": envelope_for(spec, payload)}
        ],
    }


def _dead_letter_message() -> dict[str, Any]:
    text = {"type": "string"}
    return {
        "name": "dead_letter",
        "title": "A dead letter",
        "summary": "A message a consumer could not process: the original body, unchanged.",
        "description": (
            "Published by the consumer (with confirms, before it acks the original) to its "
            "`<service>.dlq`; or dead-lettered by the broker itself past the work queue's "
            "delivery limit (then with `x-death` instead of the `park-` headers). Replay "
            "(`park dlq replay`) sends it to `park-original-queue` only."
        ),
        "headers": {
            "type": "object",
            "properties": {
                ERROR: dict(text, description="a readable reason naming the field or rule"),
                ATTEMPTS: {"type": "integer", "minimum": 0},
                ORIGINAL_QUEUE: text,
                ORIGINAL_EXCHANGE: text,
                ORIGINAL_ROUTING_KEY: text,
                FAILED_AT: dict(text, description="UTC, written with Z"),
            },
        },
        "payload": {"description": "the original message body, whatever it was"},
    }


def _channels_and_operations(specs: list[EventSpec], topology: Topology):
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    users = {identity.user for identity in park_identities(topology)}
    by_source: dict[str, list[EventSpec]] = {}
    for spec in specs:
        on_work = spec.key.source == "ticketing" and spec.key.type in WORK_ITEM_TYPES
        exchange = WORK_EXCHANGE if on_work else events_exchange(spec.key.source)
        by_source.setdefault(exchange, []).append(spec)

    for exchange in topology.exchanges():
        if exchange.name == UNROUTED:
            channels[UNROUTED] = _unrouted_channel()
            continue
        if exchange.type != "topic" and exchange.name != WORK_EXCHANGE:
            continue  # retry exchanges: the consumers' own machinery, not the contract
        published = by_source.get(exchange.name, [])
        channels[exchange.name] = {
            "address": exchange.name,
            "title": exchange.name,
            "description": _exchange_description(exchange.name, exchange.type),
            "messages": {
                channel_key(spec): {"$ref": f"#/components/messages/{message_id(spec)}"}
                for spec in published
            },
            "bindings": {
                "amqp": {
                    "is": "routingKey",
                    "exchange": {
                        "name": exchange.name,
                        "type": exchange.type,
                        "durable": True,
                        "autoDelete": False,
                        "vhost": VHOST,
                    },
                    "bindingVersion": AMQP_BINDING_VERSION,
                }
            },
        }
        if exchange.type == "topic":
            channels[exchange.name]["x-park-alternate-exchange"] = UNROUTED
        source = exchange.name.rsplit(".", 1)[0]
        if published:
            operations[f"{exchange.name}.publish"] = _send(
                exchange.name, published, user=source if source in users else None
            )

    queue_arguments = {queue.name: queue.arguments for queue in topology.queues()}
    for subscription in topology.subscriptions:
        spec = _latest(specs, subscription.source, subscription.type)
        channels[subscription.queue] = _queue_channel(
            subscription.queue,
            queue_arguments[subscription.queue],
            description=(
                f"{subscription.service}'s work queue for `{subscription.source}/"
                f"{subscription.type}`: bound to `{subscription.exchange}` with routing key "
                f"`{subscription.type}`. Policy `{_work_policy(subscription.service)}`: after "
                f"{topology.delivery_limit} deliveries of one message the broker dead-letters "
                f"it to `{dead_letter_queue(subscription.service)}`."
            ),
            messages=[spec] if spec else [],
            extra={
                "x-park-bound-to": {
                    "exchange": subscription.exchange,
                    "routingKey": subscription.type,
                }
            },
        )
        operations[f"{subscription.queue}.receive"] = _receive(subscription.queue, spec)

    firm_queue = firm_work_queue("{firm_id}")
    work_specs = by_source.get(WORK_EXCHANGE, [])
    channels[firm_queue] = _queue_channel(
        firm_queue,
        topology.firm_work("firm_id")[0].arguments,
        description=(
            "One resident firm's work queue, declared when the firm is provisioned (`park "
            f"firms add`), bound to `{WORK_EXCHANGE}` with routing key = the firm id. Only "
            "the firm's own broker user `firm-{firm_id}` may read it."
        ),
        messages=work_specs,
        extra={"x-park-bound-to": {"exchange": WORK_EXCHANGE, "routingKey": "{firm_id}"}},
    )
    channels[firm_queue]["parameters"] = {
        "firm_id": {"description": "the firm's id: lower-case letters, digits, inner hyphens"}
    }
    operations["firm.work.receive"] = {
        "action": "receive",
        "channel": {"$ref": f"#/channels/{_pointer(firm_queue)}"},
        "summary": "A resident firm's client takes its work items (docs/firms.md).",
        "messages": [
            {"$ref": f"#/channels/{_pointer(firm_queue)}/messages/{channel_key(spec)}"}
            for spec in work_specs
        ],
        "bindings": {"amqp": {"ack": True, "bindingVersion": AMQP_BINDING_VERSION}},
    }

    for service in topology.services:
        dlq = dead_letter_queue(service)
        channels[dlq] = _queue_channel(
            dlq,
            queue_arguments[dlq],
            description=(
                f"{service}'s dead letters: what its consumers could not process, with the "
                "reason. Read by the operator (`park dlq list|show|replay|purge`)."
            ),
            messages=[],
        )
        channels[dlq]["messages"] = {"dead_letter": {"$ref": "#/components/messages/dead_letter"}}
    return channels, operations


def _latest(specs: list[EventSpec], source: str, type_: str) -> EventSpec | None:
    found = [s for s in specs if (s.key.source, s.key.type) == (source, type_)]
    return max(found, key=lambda s: s.key.version) if found else None


def _work_policy(service: str) -> str:
    return WORK_QUEUE_POLICY.format(service=service)


def _exchange_description(name: str, kind: str) -> str:
    if name == WORK_EXCHANGE:
        return (
            f"Work items for the resident firms: a {kind} exchange, durable, no alternate "
            "exchange (ticketing publishes mandatory: a firm without a queue is an error it "
            "sees). Routing key = the firm id, to the queue `firm.<firm_id>.work`."
        )
    source = name.rsplit(".", 1)[0]
    who = (
        "the resident firms, each as its broker user `firm-<firm_id>`"
        if source == FIRMS
        else f"`{source}`, as its broker user `{source}`"
    )
    return (
        f"Events published by {who}. A {kind} exchange, durable; routing key = the event "
        f"type. Its alternate exchange `{UNROUTED}` (policy `{ALTERNATE_EXCHANGE_POLICY}`) "
        "keeps an event no queue is bound for, for inspection (`park unrouted`)."
    )


def _unrouted_channel() -> dict[str, Any]:
    return {
        "address": UNROUTED,
        "title": UNROUTED,
        "description": (
            f"The alternate exchange of every `<source>.events` (fanout) and its queue "
            f"`{UNROUTED}` (quorum, messages kept 14 days): events that no subscription "
            "wanted, any of the messages above."
        ),
        "bindings": {
            "amqp": {
                "is": "routingKey",
                "exchange": {
                    "name": UNROUTED,
                    "type": "fanout",
                    "durable": True,
                    "autoDelete": False,
                    "vhost": VHOST,
                },
                "bindingVersion": AMQP_BINDING_VERSION,
            }
        },
    }


def _queue_channel(
    name: str,
    arguments: dict[str, Any],
    *,
    description: str,
    messages: list[EventSpec],
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    channel = {
        "address": name,
        "title": name,
        "description": description,
        "messages": {
            channel_key(spec): {"$ref": f"#/components/messages/{message_id(spec)}"}
            for spec in messages
        },
        "bindings": {
            "amqp": {
                "is": "queue",
                "queue": {
                    "name": name,
                    "durable": True,
                    "exclusive": False,
                    "autoDelete": False,
                    "vhost": VHOST,
                },
                "bindingVersion": AMQP_BINDING_VERSION,
            }
        },
        "x-park-queue-arguments": dict(arguments),
    }
    channel.update(extra or {})
    return channel


def _send(exchange: str, specs: list[EventSpec], *, user: str | None) -> dict[str, Any]:
    binding: dict[str, Any] = {
        "deliveryMode": 2,
        "mandatory": True,
        "timestamp": True,
        "bindingVersion": AMQP_BINDING_VERSION,
    }
    if user:
        binding["userId"] = user
    return {
        "action": "send",
        "channel": {"$ref": f"#/channels/{_pointer(exchange)}"},
        "summary": f"Publish on {exchange} (persistent, mandatory, with publisher confirms).",
        "messages": [
            {"$ref": f"#/channels/{_pointer(exchange)}/messages/{channel_key(spec)}"}
            for spec in specs
        ],
        "bindings": {"amqp": binding},
    }


def _receive(queue: str, spec: EventSpec | None) -> dict[str, Any]:
    return {
        "action": "receive",
        "channel": {"$ref": f"#/channels/{_pointer(queue)}"},
        "summary": f"Consume {queue}: acked once the effect is committed (once per event_id).",
        "messages": (
            [{"$ref": f"#/channels/{_pointer(queue)}/messages/{channel_key(spec)}"}] if spec else []
        ),
        "bindings": {"amqp": {"ack": True, "bindingVersion": AMQP_BINDING_VERSION}},
    }


def _pointer(key: str) -> str:
    """A map key as a JSON Pointer segment (RFC 6901)."""
    return key.replace("~", "~0").replace("/", "~1")


def _project_version(root: Path) -> str:
    with (root / "pyproject.toml").open("rb") as handle:
        return tomllib.load(handle)["project"]["version"]


def render(document: dict[str, Any]) -> str:
    """The document as committed: YAML, keys in the order built, Chinese kept readable."""
    body = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)
    return HEADER + body
