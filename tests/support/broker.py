"""Helpers to look at what reached the broker, and to wait without bare sleeps."""

import time
from collections.abc import Callable
from typing import Any, TypeVar

import eventlet

from shared.messaging.amqp_client import BrokerAddress
from shared.messaging.identities import amqp_uri_as, dev_password

T = TypeVar("T")


def wait_for(
    probe: Callable[[], T],
    *,
    timeout: float = 15.0,
    interval: float = 0.05,
    message: str = "condition",
) -> T:
    """Poll ``probe`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout}s waiting for {message} (last: {value!r})"
            )
        eventlet.sleep(interval)


def get_messages(amqp_uri: str, queue: str, *, ack: bool = True) -> list[Any]:
    """Take every message currently in ``queue`` (basic.get until empty)."""
    connection = BrokerAddress.from_uri(amqp_uri).connect()
    try:
        channel = connection.channel()
        messages = []
        while (message := channel.basic_get(queue)) is not None:
            messages.append(message)
        for message in messages:
            if ack:
                channel.basic_ack(message.delivery_tag)
        if not ack and messages:
            channel.basic_recover(requeue=True)
        return messages
    finally:
        connection.close()


def queue_depth(amqp_uri: str, queue: str) -> int:
    connection = BrokerAddress.from_uri(amqp_uri).connect()
    try:
        _, count, _ = connection.channel().queue_declare(queue, passive=True)
        return count
    finally:
        connection.close()


def as_user(amqp_uri: str, user: str) -> str:
    """``amqp_uri`` connecting as the fixed-name broker ``user`` (its development password),
    provisioned on the vhost by the declare step (shared/messaging/identities.py)."""
    return amqp_uri_as(amqp_uri, user, dev_password(user))
