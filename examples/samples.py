"""What the runnable examples share: the sample payloads beside this file, and the
broker URI (``--amqp-uri``, ``$PUBLISHER_AMQP_URI``, or the development broker as the
system's own user ``<system>`` / ``dev-<system>``)."""

import argparse
import json
import os
import sys
from pathlib import Path

from clients.publisher import (
    BrokerUnavailable,
    InvalidEvent,
    Published,
    PublisherError,
    development_uri,
)
from clients.publisher.cli import EXIT_CODES

HERE = Path(__file__).resolve().parent


def sample(system: str, name: str) -> dict:
    """The payload in ``examples/<system>/<name>.json``."""
    return json.loads((HERE / system / f"{name}.json").read_text("utf-8"))


def arguments(system: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--amqp-uri", default=os.environ.get("PUBLISHER_AMQP_URI"))
    parser.add_argument("--park-id", default=os.environ.get("PARK_ID", "aux-shangjie"))
    parser.set_defaults(system=system)
    return parser


def uri(options: argparse.Namespace) -> str:
    return options.amqp_uri or development_uri(options.system)


def report(sent: Published) -> None:
    print(f"sent {sent.envelope['type']} {sent.event_id} on {sent.exchange}")
    print(f"correlation_id {sent.correlation_id}")


def run(publish) -> int:
    """Run ``publish()`` and turn the library's errors into what an integrator does; the
    exit code is the publisher CLI's for the same error (one table, ``EXIT_CODES``)."""
    try:
        publish()
    except InvalidEvent as error:  # fix the payload: nothing was sent
        print(f"invalid, not sent: {error} (fields: {', '.join(error.fields)})", file=sys.stderr)
        return EXIT_CODES[InvalidEvent]
    except BrokerUnavailable as error:  # keep the event and send it again later
        print(f"broker unavailable, try again later: {error}", file=sys.stderr)
        return EXIT_CODES[BrokerUnavailable]
    except PublisherError as error:  # Unroutable, Refused: a set-up problem
        print(f"{type(error).__name__}: {error}", file=sys.stderr)
        return EXIT_CODES.get(type(error), 1)
    return 0
