"""``python -m clients.publisher send <file.json> --system portal``: publish one event.

The file holds the event's **payload** (a JSON object, as in ``examples/``); its type is
``--type``, or else the file's name up to the first dot (``application_submitted.json``,
``review_decided.ecology_environment.json``). The broker URI is ``--amqp-uri``, else
``$PUBLISHER_AMQP_URI``, else the development broker as the system's own user
(``amqp://<system>:dev-<system>@127.0.0.1:5672/``). On success the confirmed envelope is
printed as JSON; its ``correlation_id`` is the flow to follow (``park trace``).

Exit codes: 0 sent and confirmed; 2 bad usage, unreadable file or invalid event (nothing
sent); 3 unroutable; 4 refused by the broker; 5 broker unavailable after the retries.
"""

import argparse
import json
import os
import sys
from pathlib import Path

from clients.publisher.errors import (
    BrokerUnavailable,
    InvalidEvent,
    PublisherError,
    Refused,
    Unroutable,
)
from clients.publisher.publisher import Publisher, development_uri
from clients.publisher.validation import INGRESS_SYSTEMS

EXIT_CODES = {InvalidEvent: 2, Unroutable: 3, Refused: 4, BrokerUnavailable: 5}
MAX_FILE_BYTES = 1024 * 1024  # the contract's largest message body


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m clients.publisher",
        description="Publish one ingress event into the park (docs/integration.md).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    send = commands.add_parser("send", help="publish the payload in a JSON file")
    send.add_argument("file", type=Path, help="the payload, a JSON object (examples/…)")
    send.add_argument("--system", required=True, choices=INGRESS_SYSTEMS)
    send.add_argument("--type", dest="type_", help="default: the file name up to its first dot")
    send.add_argument("--amqp-uri", default=os.environ.get("PUBLISHER_AMQP_URI"))
    send.add_argument(
        "--park-id",
        default=os.environ.get("PARK_ID"),
        help="the park the event is about, e.g. aux-shangjie (default: $PARK_ID)",
    )
    send.add_argument("--correlation-id", help="the flow this event belongs to (a uuid)")
    send.add_argument("--retries", type=int, default=5, help="reconnections (default 5)")
    return parser


def read_payload(path: Path) -> object:
    """The file's JSON document, or ValueError saying why not."""
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise ValueError(f"cannot read {path}: {error.strerror or error}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise ValueError(f"{path}: larger than {MAX_FILE_BYTES} bytes")
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise ValueError(f"{path}: not UTF-8 JSON ({error})") from None


def main(argv: list[str] | None = None) -> int:
    arguments = parser().parse_args(argv)
    try:
        payload = read_payload(arguments.file)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    type_ = arguments.type_ or arguments.file.name.split(".", 1)[0]
    uri = arguments.amqp_uri or development_uri(arguments.system)
    try:
        with Publisher(
            uri, arguments.system, park_id=arguments.park_id, retries=arguments.retries
        ) as publisher:
            sent = publisher.publish(type_, payload, correlation_id=arguments.correlation_id)
    except PublisherError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_CODES.get(type(error), 1)
    except ValueError as error:  # e.g. a broker URI that is not amqp://
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(sent.envelope, ensure_ascii=False, indent=2))
    return 0
