"""Inspecting, replaying and discarding dead letters (and the ``park.unrouted`` queue).

A service's DLQ holds two kinds of letters:

* **the consumer's own**: published by the service (its verified AMQP ``user_id``) with
  ``park-error``, ``park-original-queue``, ``park-failed-at`` and the original sender in
  ``park-sender``;
* **the broker's**: a message delivered more often than the work queues' delivery limit
  is dead-lettered by RabbitMQ itself. It keeps its original publisher's ``user_id`` and
  headers, and gains ``x-death`` (which queue, why, when) but no ``park-*`` header.

Replay sends a letter to its original queue through the default exchange — never back
through the original exchange, which would reach every subscriber again — without its
failure headers, so it starts a fresh retry ladder. It is published mandatory: a queue
that no longer exists returns it, and the letter stays in the DLQ. Replay refuses:

* a letter neither published by the service's own broker user (``SERVICE_USERS``, by
  default the service's name — never whoever runs the CLI) nor dead-lettered by the
  broker (anyone else could name any queue in a ``park-original-queue`` header, and a
  ``park-sender`` the replayed copy would carry as the service's word);
* a letter the broker dead-lettered without a ``user_id`` (as the service's copy, it
  would pass for the service's own event), and one the consumer refused for its sender
  (:mod:`shared.messaging.senders`: replaying cannot make its sender trusted);
* a letter whose original queue is not one of the service's work queues;
* a letter without a readable failure time, or older than the inbox retention (the
  replay window, 30 days by default): the inbox may no longer remember its effect.

Reading a DLQ takes its letters unacknowledged and gives them back when the connection
closes; on a quorum queue that counts as a delivery, so no delivery limit may apply to
DLQs (the work-queue policy does not match them; see docs/messaging.md for 4.x).
"""

from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import amqp

from shared.contract.fields import utc_iso
from shared.messaging import amqp_decoding
from shared.messaging.amqp_client import BrokerAddress, ConfirmingPublisher, OutgoingMessage
from shared.messaging.delivery import (
    ATTEMPTS,
    BROKER_HEADER_PREFIXES,
    BROKER_HEADERS,
    CARRIED_PROPERTIES,
    ERROR,
    FAILED_AT,
    ORIGINAL_EXCHANGE,
    ORIGINAL_QUEUE,
    ORIGINAL_ROUTING_KEY,
    PARK_PREFIX,
    SENDER,
)
from shared.messaging.errors import PublishFailed, TopologyMissing, Unroutable
from shared.messaging.senders import is_sender_refusal

REPLAYED_AT = "park-replayed-at"


@dataclass(frozen=True)
class Letter:
    """One message as it sits in a dead-letter (or unrouted) queue."""

    position: int
    body: bytes
    properties: dict[str, Any]
    headers: dict[str, Any] = field(default_factory=dict)

    @property
    def event_id(self) -> str | None:
        value = self.properties.get("message_id")
        return value if isinstance(value, str) else None

    @property
    def user_id(self) -> str | None:
        """The publisher the broker vouched for (the service, for its own letters)."""
        value = self.properties.get("user_id")
        return value if isinstance(value, str) and value else None

    @property
    def death(self) -> dict[str, Any] | None:
        """The broker's latest dead-lettering of this message (``x-death``, newest first)."""
        deaths = self.headers.get("x-death")
        latest = deaths[0] if isinstance(deaths, list) and deaths else None
        return latest if isinstance(latest, dict) and isinstance(latest.get("queue"), str) else None

    @property
    def unreadable(self) -> str | None:
        """Why some of its properties or headers could not be decoded, if so."""
        problems = self.properties.get(amqp_decoding.UNDECODABLE)
        return "; ".join(map(str, problems)) if problems else None

    @property
    def dead_lettered_by(self) -> str:
        return "broker" if self.death is not None else "consumer"

    @property
    def error(self) -> str | None:
        if self.unreadable:
            return f"its properties cannot be read: {self.unreadable}"
        if self.death is not None:
            death = self.death
            return (
                f"dead-lettered by the broker: {death.get('reason')} "
                f"(x-death count {death.get('count')})"
            )
        value = self.headers.get(ERROR)
        return value if isinstance(value, str) else None

    @property
    def original_queue(self) -> str | None:
        """Where the letter came from: the broker's ``x-death`` queue, else the consumer's
        ``park-original-queue`` header (believed only as far as :func:`refusal` says)."""
        if self.death is not None:
            return self.death["queue"]
        value = self.headers.get(ORIGINAL_QUEUE)
        return value if isinstance(value, str) and value else None

    @property
    def failed_at_text(self) -> str | None:
        """The failure time as recorded, for display (whatever it holds)."""
        if self.death is not None:
            return str(self.death.get("time"))
        value = self.headers.get(FAILED_AT)
        return None if value is None else str(value)

    @property
    def failed_at(self) -> datetime | None:
        """When it failed, as an aware UTC time; ``ValueError`` if the record is unreadable."""
        if self.death is not None:
            stamp = self.death.get("time")
            if not isinstance(stamp, datetime):
                raise ValueError(f"x-death time is not a timestamp: {stamp!r}")
            return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
        text = self.headers.get(FAILED_AT)
        if text is None:
            return None
        try:
            if not isinstance(text, str) or not text.endswith("Z"):
                raise ValueError("no Z")
            return datetime.fromisoformat(text[:-1] + "+00:00")
        except ValueError:
            raise ValueError(f"{FAILED_AT} is not a UTC time: {text!r}") from None


@dataclass
class ReplayOutcome:
    replayed: list[Letter] = field(default_factory=list)
    refused: list[tuple[Letter, str]] = field(default_factory=list)


@dataclass(frozen=True)
class ReplayRules:
    """What a service's DLQ may replay: to its own work queues, letters it or the broker
    dead-lettered, within the replay window."""

    work_queues: Collection[str]
    service_users: Collection[str]  # the broker users the service publishes as
    window: timedelta


def refusal(letter: Letter, rules: ReplayRules, now: datetime) -> str | None:
    """Why ``letter`` must not be replayed, or None."""
    if letter.unreadable:
        # What could not be read cannot be sent on: the copy would not be the letter.
        return f"its properties cannot be read ({letter.unreadable}): purge it"
    own = letter.user_id in rules.service_users
    if not own and letter.death is None:
        return (
            f"published by {letter.user_id or 'an unverified user'}, neither by the service "
            "nor dead-lettered by the broker: its original-queue header cannot be trusted"
        )
    if not own and not letter.user_id:
        # Replayed as the service, a message nobody signed would pass for its own.
        return "dead-lettered by the broker without a user_id: no verified sender to keep"
    if own and letter.death is None and is_sender_refusal(letter.headers.get(ERROR)):
        # Its sender may not publish there; replayed as the service, it would pass for the
        # service's own event (a letter refused for no user_id has no park-sender).
        return f"refused for its sender ({letter.headers[ERROR]}): purge it"
    queue = letter.original_queue
    if not queue:
        return "no original queue (park-original-queue header or x-death)"
    if queue not in rules.work_queues:
        return f"original queue {queue!r} is not one of this service's work queues"
    try:
        failed_at = letter.failed_at
    except ValueError as error:
        return str(error)
    if failed_at is None:
        return f"no {FAILED_AT} header"
    if now - failed_at > rules.window:
        return (
            f"failed at {letter.failed_at_text}, older than the {rules.window.days}-day "
            "replay window (the inbox may have forgotten it)"
        )
    return None


class LetterQueue:
    """Reads a queue without consuming it; acts on the letters a caller selects.

    Every pass walks the whole queue, as deep as it was when the pass began.
    """

    def __init__(self, address: BrokerAddress, queue: str):
        self.address = address
        self.queue = queue
        # A letter py-amqp cannot decode (a non-UTF-8 message_id, a timestamp of 2^62)
        # would break the whole walk mid-frame: decode totally, name what is unreadable.
        amqp_decoding.install()

    def _depth(self, channel) -> int:
        try:
            _, depth, _ = channel.queue_declare(self.queue, passive=True)
        except amqp.exceptions.NotFound:
            raise TopologyMissing(
                f"queue {self.queue} does not exist: declare the topology (park topology declare)"
            ) from None
        return depth

    def _take(self, channel) -> Iterator[tuple[int, Letter]]:
        # Letters taken and not acked stay with this channel, so basic_get moves on to the
        # next one; the depth bounds the walk (letters arriving meanwhile wait for the next).
        for position in range(1, self._depth(channel) + 1):
            message = channel.basic_get(self.queue)
            if message is None:
                return
            properties = dict(message.properties)
            headers = properties.pop("application_headers", None)
            headers = dict(headers) if isinstance(headers, dict) else {}
            yield message.delivery_tag, Letter(position, message.body, properties, headers)

    def peek(self) -> list[Letter]:
        connection = self.address.connect()
        try:
            # Unacknowledged gets go back to the queue when the connection closes.
            return [letter for _, letter in self._take(connection.channel())]
        finally:
            connection.close()

    def _act(
        self, select: Callable[[Letter], bool], act: Callable[[list[Letter]], list[Letter]]
    ) -> list[Letter]:
        """Take the letters, let ``act`` handle the selected ones and return those it
        finished with; only those are acked (removed), everything else goes back."""
        connection = self.address.connect()
        try:
            channel = connection.channel()
            chosen = [(tag, letter) for tag, letter in self._take(channel) if select(letter)]
            done = {id(letter) for letter in act([letter for _, letter in chosen])}
            for tag, letter in chosen:
                if id(letter) in done:
                    channel.basic_ack(tag)
            return [letter for _, letter in chosen if id(letter) in done]
        finally:
            connection.close()

    def purge(self, select: Callable[[Letter], bool]) -> list[Letter]:
        return self._act(select, lambda chosen: chosen)

    def replay(
        self,
        select: Callable[[Letter], bool],
        *,
        rules: ReplayRules,
        now: Callable[[], datetime],
        publisher: ConfirmingPublisher,
    ) -> ReplayOutcome:
        outcome = ReplayOutcome()

        def replay_chosen(chosen: list[Letter]) -> list[Letter]:
            sendable = []
            for letter in chosen:
                reason = refusal(letter, rules, now())
                if reason:
                    outcome.refused.append((letter, reason))
                else:
                    sendable.append(letter)
            messages = [replay_message(letter, rules, now(), publisher) for letter in sendable]
            try:
                publisher.publish(messages)
            except Unroutable as error:
                returned = set(error.indices)
                for index in sorted(returned):
                    letter = sendable[index]
                    outcome.refused.append(
                        (letter, f"queue {letter.original_queue!r} does not exist (kept)")
                    )
                sendable = [letter for i, letter in enumerate(sendable) if i not in returned]
            except PublishFailed as error:
                # Some may have arrived; all stay here, and a second replay is harmless.
                outcome.refused += [(letter, f"not replayed: {error}") for letter in sendable]
                sendable = []
            outcome.replayed = sendable
            return sendable

        self._act(select, replay_chosen)
        return outcome


def replay_message(
    letter: Letter, rules: ReplayRules, now: datetime, publisher: ConfirmingPublisher
) -> OutgoingMessage:
    """The copy that goes back to the letter's original queue, as the service's user."""
    headers = {
        key: value
        for key, value in letter.headers.items()
        if key not in BROKER_HEADERS
        and not key.startswith(BROKER_HEADER_PREFIXES)
        and key not in (ERROR, ATTEMPTS, FAILED_AT)
    }
    if letter.user_id not in rules.service_users:
        # The broker dead-lettered someone else's message: its park-* headers are that
        # publisher's word, and the consumer would believe them on our copy. Keep only
        # what the broker vouches for: the sender and the queue.
        headers = {k: v for k, v in headers.items() if not k.startswith(PARK_PREFIX)}
        if letter.user_id:
            headers[SENDER] = letter.user_id
        death = letter.death or {}
        headers[ORIGINAL_QUEUE] = letter.original_queue
        if isinstance(death.get("exchange"), str):
            headers[ORIGINAL_EXCHANGE] = death["exchange"]
        keys = death.get("routing-keys")
        if isinstance(keys, list) and keys and isinstance(keys[0], str):
            headers[ORIGINAL_ROUTING_KEY] = keys[0]
    headers[REPLAYED_AT] = utc_iso(now)
    properties = {k: letter.properties[k] for k in CARRIED_PROPERTIES if k in letter.properties}
    # Published as the service's own user, so the consumer keeps trusting park-sender.
    properties["user_id"] = publisher.address.user
    properties["headers"] = headers
    return OutgoingMessage("", letter.original_queue, letter.body, properties)
