"""The bodies on the wire, identical for every row: the generator's input envelope, and
the output envelope the raw-pika and plain-nameko forwarders build by hand (the project
builds its own through ``uow.emit``, contract-checked)."""

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from bench.contract import GENERATOR_SOURCE, INPUT_TYPE, OUTPUT_TYPE
from bench.ids import uuid4
from shared.contract.fields import utc_iso

CONTENT_TYPE = "application/json"


def input_body(seq: int, sent_ns: int, new_id: Callable[[], str] = uuid4) -> bytes:
    """A ``benchgen/work_requested`` envelope as the generator publishes it."""
    event_id = new_id()
    return json.dumps(
        {
            "event_id": event_id,
            "type": INPUT_TYPE,
            "source": GENERATOR_SOURCE,
            "version": 1,
            "occurred_at": utc_iso(datetime.fromtimestamp(sent_ns / 1e9, UTC)),
            "correlation_id": event_id,
            "causation_id": None,
            "park_id": None,
            "payload": {"seq": seq, "sent_ns": sent_ns, "item_id": new_id(), "amount_fen": 1250},
        }
    ).encode()


def input_properties(body: bytes) -> dict[str, Any]:
    return {
        "content_type": CONTENT_TYPE,
        "delivery_mode": 2,
        "type": INPUT_TYPE,
        "app_id": GENERATOR_SOURCE,
    }


def forwarded_envelope(source: str, received: dict[str, Any]) -> dict[str, Any]:
    """What a hand-written forwarder publishes for ``received`` (a decoded input)."""
    payload = received["payload"]
    return {
        "event_id": str(uuid.uuid4()),
        "type": OUTPUT_TYPE,
        "source": source,
        "version": 1,
        "occurred_at": utc_iso(datetime.now(UTC)),
        "correlation_id": received["correlation_id"],
        "causation_id": received["event_id"],
        "park_id": received.get("park_id"),
        "payload": {key: payload[key] for key in ("seq", "sent_ns", "item_id", "amount_fen")},
    }


def output_stamp(body: bytes) -> tuple[int, int]:
    """``(seq, sent_ns)`` of an output message, whoever forwarded it."""
    payload = json.loads(body)["payload"]
    return payload["seq"], payload["sent_ns"]
