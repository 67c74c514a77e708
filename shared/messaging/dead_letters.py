"""Inspecting, replaying and discarding dead letters (and the ``park.unrouted`` queue).

Replay sends a dead letter to its ``park-original-queue`` through the default exchange —
never back through the original exchange, which would reach every subscriber again —
with its failure headers removed, so it starts a fresh retry ladder. A dead letter older
than the inbox retention (the replay window, 30 days by default) is refused: the inbox
may no longer remember that its effect was applied.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shared.contract.fields import utc_iso
from shared.messaging.amqp_client import BrokerAddress, ConfirmingPublisher, OutgoingMessage
from shared.messaging.consumer import ATTEMPTS, CARRIED_PROPERTIES, ERROR, FAILED_AT, ORIGINAL_QUEUE

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
        return self.properties.get("message_id")

    @property
    def error(self) -> str | None:
        return self.headers.get(ERROR)

    @property
    def original_queue(self) -> str | None:
        return self.headers.get(ORIGINAL_QUEUE)

    @property
    def failed_at(self) -> datetime | None:
        text = self.headers.get(FAILED_AT)
        return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


@dataclass
class ReplayOutcome:
    replayed: list[Letter] = field(default_factory=list)
    refused: list[tuple[Letter, str]] = field(default_factory=list)


class LetterQueue:
    """Reads a queue without consuming it; acts on the letters a caller selects."""

    def __init__(self, address: BrokerAddress, queue: str, *, limit: int = 10_000):
        self.address = address
        self.queue = queue
        self.limit = limit

    def _take(self, channel) -> list[tuple[int, Letter]]:
        taken = []
        while len(taken) < self.limit and (message := channel.basic_get(self.queue)) is not None:
            properties = dict(message.properties)
            headers = dict(properties.pop("application_headers", None) or {})
            letter = Letter(len(taken) + 1, message.body, properties, headers)
            taken.append((message.delivery_tag, letter))
        return taken

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
            taken = self._take(channel)
            chosen = [letter for _, letter in taken if select(letter)]
            done = {id(letter) for letter in act(chosen)}
            for tag, letter in taken:
                if id(letter) in done:
                    channel.basic_ack(tag)
            return [letter for _, letter in taken if id(letter) in done]
        finally:
            connection.close()

    def purge(self, select: Callable[[Letter], bool]) -> list[Letter]:
        return self._act(select, lambda chosen: chosen)

    def replay(
        self,
        select: Callable[[Letter], bool],
        *,
        window: timedelta,
        now: Callable[[], datetime],
        publisher: ConfirmingPublisher,
    ) -> ReplayOutcome:
        outcome = ReplayOutcome()

        def replay_chosen(chosen: list[Letter]) -> list[Letter]:
            sendable = []
            for letter in chosen:
                refusal = _refusal(letter, window, now())
                if refusal:
                    outcome.refused.append((letter, refusal))
                else:
                    sendable.append(letter)
            publisher.publish([_replay_message(letter, now(), publisher) for letter in sendable])
            outcome.replayed = sendable
            return sendable

        self._act(select, replay_chosen)
        return outcome


def _refusal(letter: Letter, window: timedelta, now: datetime) -> str | None:
    if not letter.original_queue:
        return "no park-original-queue header: not a dead letter of this system"
    if letter.failed_at is None:
        return "no park-failed-at header"
    if now - letter.failed_at > window:
        return (
            f"failed at {letter.headers[FAILED_AT]}, older than the {window.days}-day "
            "replay window (the inbox may have forgotten it)"
        )
    return None


def _replay_message(letter: Letter, now: datetime, publisher: ConfirmingPublisher):
    headers = {k: v for k, v in letter.headers.items() if k not in (ERROR, ATTEMPTS, FAILED_AT)}
    headers[REPLAYED_AT] = utc_iso(now)
    properties = {k: letter.properties[k] for k in CARRIED_PROPERTIES if k in letter.properties}
    # Published as the service's own user, so the consumer keeps trusting park-sender.
    properties["user_id"] = publisher.address.user
    properties["headers"] = headers
    return OutgoingMessage("", letter.original_queue, letter.body, properties)
