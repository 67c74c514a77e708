"""The firm's client as a library: :class:`FirmClient`.

A resident firm connects to the park's broker as its own user ``firm-<firm_id>``, which
may read only its queue ``firm.<firm_id>.work`` and write only to ``firms.events``.

* :meth:`FirmClient.fetch` moves work messages from the queue into the local
  :class:`~clients.firm.store.FirmStore`, acknowledging each only once it is committed.
* :meth:`accept`, :meth:`decline`, :meth:`progress`, :meth:`complete` check the report
  here (clear errors before anything is written), write it to the store as pending with
  its whole envelope, send it with publisher confirms and ``mandatory`` as
  ``user_id = firm-<firm_id>``, and mark it sent. One that could not be sent stays
  pending; every call sends what is pending first (in order), and :meth:`send_pending`
  does only that.

Example::

    from clients.firm import FirmClient

    with FirmClient("law-hengxin", "amqp://firm-law-hengxin:secret@broker:5672/park") as firm:
        firm.fetch()
        for item in firm.items():
            firm.accept(item.ticket_id, "已安排律师对接")
"""

import os
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import unquote, urlparse

import amqp
import structlog

from clients.firm.store import OPEN_STATUSES, FirmStore, ItemStatus, Recorded, WorkItem
from shared.clock import utcnow
from shared.contract import build, parse
from shared.messaging.amqp_client import (
    CONNECTION_ERRORS,
    BrokerAddress,
    ConfirmingPublisher,
)
from shared.messaging.errors import ContractViolation, MalformedMessage, PublishFailed
from shared.messaging.publisher import message_for
from shared.messaging.topology import firm_work_queue

log = structlog.get_logger(__name__)

SOURCE = "firms"
OUTCOMES = ("done", "approve", "reject")
WORK_TYPES = ("work_assigned", "work_withdrawn")
DEFAULT_BROKER = "127.0.0.1:5672"


class FirmClientError(Exception):
    """Base of the errors the client reports to its user."""


class ConfigurationError(FirmClientError):
    """Missing firm id, or a broker URI for another user than ``firm-<firm_id>``."""


class InvalidReport(FirmClientError, ValueError):
    """The report's arguments are wrong (outcome, fee, reasons): nothing was written."""


class UnknownTicket(FirmClientError, LookupError):
    """No such ticket in the store (fetch first): nothing was written."""


class TicketNotOpen(FirmClientError):
    """The ticket no longer takes this report (withdrawn, declined, completed)."""


class BrokerUnavailable(FirmClientError):
    """The broker could not be reached or refused the firm (credentials, permissions)."""


def user_of(firm_id: str) -> str:
    """The firm's broker user."""
    return f"firm-{firm_id}"


def dev_password(firm_id: str) -> str:
    """A firm's password in development (never in production)."""
    return f"dev-{firm_id}"


def default_uri(firm_id: str) -> str:
    """The development broker as the firm, with its development password."""
    return f"amqp://{user_of(firm_id)}:{dev_password(firm_id)}@{DEFAULT_BROKER}/"


def default_store_path(firm_id: str) -> Path:
    """``./firm-<firm_id>.sqlite`` in the working directory."""
    return Path.cwd() / f"firm-{firm_id}.sqlite"


@dataclass(frozen=True)
class FetchResult:
    """What one :meth:`FirmClient.fetch` did: counts of deliveries by what they became."""

    stored: int = 0  # new work items (or work that came back)
    updated: int = 0  # newer details of a work item already held
    withdrawn: int = 0
    duplicates: int = 0  # already stored (a redelivery): acked, nothing changed
    quarantined: int = 0  # not a valid work message: kept aside in the store, acked

    @property
    def total(self) -> int:
        return self.stored + self.updated + self.withdrawn + self.duplicates + self.quarantined


@dataclass(frozen=True)
class SendResult:
    """What a send of the pending reports did."""

    sent: list[str] = field(default_factory=list)  # event ids
    pending: list[str] = field(default_factory=list)  # still pending (not sent)
    error: str | None = None


@dataclass(frozen=True)
class ReportResult:
    """A report written to the store; ``sent`` once the broker confirmed it."""

    event_id: str
    type: str
    ticket_id: str
    sent: bool
    error: str | None = None


class FirmClient:
    """One firm's connection to the park: its queue, its store, its reports."""

    def __init__(
        self,
        firm_id: str | None = None,
        amqp_uri: str | None = None,
        store_path: str | Path | None = None,
        *,
        clock: Callable[[], datetime] = utcnow,
        confirm_timeout: float = 10.0,
        connect_timeout: float = 10.0,
    ):
        firm_id = firm_id or os.environ.get("FIRM_ID")
        if not firm_id:
            raise ConfigurationError("no firm id: pass --firm-id or set FIRM_ID")
        self.firm_id = firm_id
        self.user = user_of(firm_id)
        self.amqp_uri = amqp_uri or os.environ.get("FIRM_AMQP_URI") or default_uri(firm_id)
        uri_user = unquote(urlparse(self.amqp_uri).username or "")
        if uri_user != self.user:
            raise ConfigurationError(
                f"the broker URI connects as {uri_user or '(no user)'!r}, not as this firm's "
                f"user {self.user!r}: reports carry user_id {self.user} and the broker "
                "refuses a user_id that is not the connection's own"
            )
        self.address = BrokerAddress.from_uri(self.amqp_uri)
        self.queue = firm_work_queue(firm_id)
        self.clock = clock
        self.connect_timeout = connect_timeout
        path = store_path or os.environ.get("FIRM_STORE") or default_store_path(firm_id)
        self.store = FirmStore(path)
        self._publisher = ConfirmingPublisher(
            self.address, confirm_timeout=confirm_timeout, heartbeat=0
        )

    def close(self) -> None:
        self._publisher.close()
        self.store.close()

    def __enter__(self) -> "FirmClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- work ---------------------------------------------------------------------------

    def fetch(self, limit: int | None = None) -> FetchResult:
        """Move the work on the firm's queue into the store (at most ``limit`` messages).

        Each message is committed to the store, then acknowledged; a crash in between
        leaves it on the queue, and its redelivery is a duplicate the store ignores.
        Raises :class:`BrokerUnavailable` when the broker cannot be reached or refuses
        the firm; what was stored and acked before stays so.
        """
        counts = dict.fromkeys(("stored", "updated", "withdrawn", "duplicates", "quarantined"), 0)
        try:
            connection = self.address.connect(timeout=self.connect_timeout)
        except CONNECTION_ERRORS as error:
            raise BrokerUnavailable(f"cannot connect as {self.user}: {_describe(error)}") from None
        try:
            channel = connection.channel()
            while limit is None or sum(counts.values()) < limit:
                message = channel.basic_get(self.queue)
                if message is None:
                    break
                counts[self._store_delivery(message)] += 1
                self._ack(channel, message.delivery_tag)
        except CONNECTION_ERRORS as error:
            raise BrokerUnavailable(
                f"reading {self.queue} as {self.user} failed: {_describe(error)}"
            ) from None
        finally:
            _drop(connection)
        return FetchResult(**counts)

    def _store_delivery(self, message: amqp.Message) -> str:
        """Commit one delivery; returns the counter it falls under."""
        now = self.clock()
        sender = message.properties.get("user_id")
        try:
            event = parse(message.body, sender=sender)
            if event.type not in WORK_TYPES or event.source != "ticketing":
                raise MalformedMessage(f"type: {event.source}/{event.type} is not a work message")
            if event.payload["firm_id"] != self.firm_id:
                raise MalformedMessage(f"payload.firm_id: {event.payload['firm_id']} is not us")
        except MalformedMessage as error:
            body = message.body if isinstance(message.body, bytes) else message.body.encode()
            self.store.quarantine(body, str(error), now=now)
            log.warning("work message quarantined", queue=self.queue, reason=str(error))
            return "quarantined"
        outcome = self.store.record(
            event_id=event.event_id,
            type_=event.type,
            occurred_at=event.occurred_at,
            payload=event.raw_payload,
            correlation_id=event.correlation_id,
            park_id=event.park_id,
            now=now,
        )
        return {
            Recorded.STORED: "stored",
            Recorded.UPDATED: "updated",
            Recorded.WITHDRAWN: "withdrawn",
            Recorded.DUPLICATE: "duplicates",
        }[outcome]

    def _ack(self, channel: amqp.Channel, delivery_tag: int) -> None:
        """Acknowledge a delivery already committed to the store (a hook for tests)."""
        channel.basic_ack(delivery_tag)

    def items(self, statuses: Iterable[ItemStatus | str] | None = None) -> list[WorkItem]:
        """The stored work items, oldest first (all, or those in ``statuses``)."""
        wanted = None if statuses is None else {ItemStatus(s) for s in statuses}
        return self.store.items(wanted)

    def item(self, ticket_id: str) -> WorkItem:
        found = self.store.item(ticket_id)
        if found is None or found.payload is None:
            raise UnknownTicket(
                f"no work item {ticket_id} in {self.store.path} (run: firm work fetch)"
            )
        return found

    # -- reports ------------------------------------------------------------------------

    def accept(self, ticket_id: str, note: str = "") -> ReportResult:
        """Take the ticket (the first response its SLA waits for)."""
        return self._report(
            ticket_id, "work_accepted", {"note": note}, ItemStatus.ACCEPTED, {ItemStatus.NEW}
        )

    def decline(self, ticket_id: str, note: str) -> ReportResult:
        """Refuse the ticket: the park routes it to another firm (never back to you)."""
        if not note.strip():
            raise InvalidReport("say why you decline (the note is required)")
        return self._report(
            ticket_id,
            "work_declined",
            {"note": note},
            ItemStatus.DECLINED,
            {ItemStatus.NEW, ItemStatus.ACCEPTED},
        )

    def progress(
        self, ticket_id: str, note: str, *, waiting_on_enterprise: bool = False
    ) -> ReportResult:
        """Report progress; ``waiting_on_enterprise`` pauses the SLA until it replies."""
        if not note.strip():
            raise InvalidReport("a progress report needs a note for the enterprise")
        payload = {"note": note, "waiting_on_enterprise": waiting_on_enterprise}
        status = ItemStatus.WAITING if waiting_on_enterprise else ItemStatus.IN_PROGRESS
        return self._report(ticket_id, "work_progressed", payload, status, OPEN_STATUSES)

    def complete(
        self,
        ticket_id: str,
        outcome: str,
        note: str = "",
        *,
        reasons: Iterable[str] = (),
        fee_fen: int | None = None,
    ) -> ReportResult:
        """Finish the ticket. ``outcome``: ``done`` for a service, ``approve`` |
        ``reject`` for a review (a rejection gives ``reasons``). ``fee_fen``: integer fen,
        required for a quoted service, refused for free and fixed-fee ones."""
        item = self.item(ticket_id)
        reasons = [r for r in (reasons or ()) if r.strip()]
        _check_completion(item, outcome, reasons, fee_fen)
        payload = {"note": note, "outcome": outcome, "reasons": reasons, "fee_fen": fee_fen}
        completed = ItemStatus.COMPLETED
        return self._report(ticket_id, "work_completed", payload, completed, OPEN_STATUSES)

    def _report(
        self,
        ticket_id: str,
        type_: str,
        fields: dict,
        new_status: ItemStatus,
        expected: set[ItemStatus],
    ) -> ReportResult:
        item = self.item(ticket_id)
        if item.status not in expected:
            raise TicketNotOpen(_not_open(item, type_))
        try:
            envelope = build(
                SOURCE,
                type_,
                {"ticket_id": ticket_id, **fields},
                occurred_at=self.clock(),
                correlation_id=item.correlation_id,
                causation_id=item.event_id,
                park_id=item.park_id,
                new_id=lambda: str(uuid.uuid4()),
            )
        except ContractViolation as error:
            raise InvalidReport(str(error)) from None
        now = self.clock()
        added = self.store.add_report(
            envelope, ticket_id=ticket_id, new_status=new_status, expected=expected, now=now
        )
        if not added:  # another command changed the item in the meantime
            raise TicketNotOpen(_not_open(self.item(ticket_id), type_))
        result = self.send_pending()
        sent = envelope["event_id"] in result.sent
        error = None if sent else result.error
        return ReportResult(envelope["event_id"], type_, ticket_id, sent, error)

    def send_pending(self) -> SendResult:
        """Send every pending report, oldest first, and mark those the broker confirmed.

        Never raises for a broker problem: what was not sent stays pending (``error``
        says why) and goes out with the next call.
        """
        pending = self.store.pending_reports()
        if not pending:
            return SendResult()
        messages = [message_for(r.envelope, user_id=self.user) for r in pending]
        event_ids = [r.event_id for r in pending]
        try:
            self._publisher.publish(messages)
        except PublishFailed as error:
            reason = _describe(error)
            self.store.mark_failed(event_ids, reason)
            log.warning("reports left pending", count=len(event_ids), error=reason)
            return SendResult(pending=event_ids, error=reason)
        self.store.mark_sent(event_ids, now=self.clock())
        return SendResult(sent=event_ids)


def _check_completion(item: WorkItem, outcome: str, reasons: list[str], fee_fen) -> None:
    if outcome not in OUTCOMES:
        raise InvalidReport(f"outcome {outcome!r}: expected one of {', '.join(OUTCOMES)}")
    if item.is_review and outcome == "done":
        raise InvalidReport(
            f"{item.ticket_id} is a {item.payload.get('review')} review: outcome approve or reject"
        )
    if not item.is_review and outcome != "done":
        raise InvalidReport(f"{item.ticket_id} is a service: outcome done")
    if outcome == "reject" and not reasons:
        raise InvalidReport("a rejection gives at least one reason (--reason)")
    if fee_fen is not None and (isinstance(fee_fen, bool) or not isinstance(fee_fen, int)):
        raise InvalidReport(f"fee {fee_fen!r}: an integer amount of fen")
    if fee_fen is not None and fee_fen < 0:
        raise InvalidReport(f"fee {fee_fen}: must not be negative")
    policy = item.payload.get("fee_policy")
    if policy == "quoted" and fee_fen is None:
        raise InvalidReport(f"{item.service_label} is quoted: state your fee (--fee-fen)")
    if policy in ("free", "fixed") and fee_fen is not None:
        terms = "free" if policy == "free" else f"a fixed fee of {item.payload.get('fee_fen')} fen"
        raise InvalidReport(f"{item.service_label} is {terms}: give no fee")


def _not_open(item: WorkItem, type_: str) -> str:
    if item.status is ItemStatus.WITHDRAWN:
        why = f" ({item.withdrawn_reason})" if item.withdrawn_reason else ""
        return f"{item.ticket_id} was withdrawn{why}: stop working on it"
    return f"{item.ticket_id} is {item.status.value}: it takes no {type_} now"


def _describe(error: BaseException) -> str:
    text = str(getattr(error, "reply_text", "") or error) or type(error).__name__
    return f"{type(error).__name__}: {text}"


def _drop(connection: amqp.Connection) -> None:
    try:
        connection.close()
    except Exception:
        try:
            connection.collect()
        except Exception:
            log.debug("firm connection dropped")
