"""The firm's local store: work items moved off the broker, and reports until they are sent.

Why it exists: a firm works on a ticket for hours or days and the CLI exits between
commands, while RabbitMQ closes a channel that holds a delivery unacknowledged for 30
minutes. So :meth:`FirmStore.record` commits each delivery here and only then does the
client acknowledge it. A crash between the commit and the ack makes the broker deliver
it again: the store recognises it (by ``event_id``, and a work item by ``ticket_id``)
and changes nothing — a duplicate, never a loss.

Order does not matter either. For one ticket the latest event by ``occurred_at`` decides
(a withdrawal wins a tie): ``work_withdrawn`` marks the item withdrawn, a later
``work_assigned`` (the ticket came back) makes it live again, an older one arriving late
changes nothing — whatever the order of deliveries, the same set gives the same state.

Reports (``work_accepted`` …) are written here as *pending* with their whole envelope
before they are sent, and marked *sent* once the broker confirmed them: one that could
not be sent is sent again later, with the same ``event_id`` (ticketing ignores a second
copy).

One SQLite file (``./firm-<firm_id>.sqlite`` by default), standard library only. Every
change is one ``BEGIN IMMEDIATE`` transaction, so two commands of the same firm at once
queue behind each other instead of interleaving.
"""

import json
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS work_items (
    ticket_id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    event_id TEXT,               -- the work_assigned this item holds (null: withdrawn unseen)
    correlation_id TEXT,
    park_id TEXT,
    assigned_at TEXT,            -- occurred_at of that work_assigned
    latest_at TEXT NOT NULL,     -- occurred_at of the latest event about this ticket
    payload TEXT,                -- the work_assigned payload (JSON), null until one arrives
    withdrawn_reason TEXT,
    received_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (
    event_id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    ticket_id TEXT,
    outcome TEXT NOT NULL,
    received_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS quarantine (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at TEXT NOT NULL,
    reason TEXT NOT NULL,
    body BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS reports (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    ticket_id TEXT NOT NULL,
    type TEXT NOT NULL,
    envelope TEXT NOT NULL,
    status TEXT NOT NULL,        -- pending | sent
    created_at TEXT NOT NULL,
    sent_at TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS reports_pending ON reports (status, seq);
"""


class ItemStatus(StrEnum):
    """Where a work item stands, as far as this firm knows."""

    NEW = "new"  # fetched, not answered yet
    ACCEPTED = "accepted"
    IN_PROGRESS = "in_progress"
    WAITING = "waiting_on_enterprise"
    DECLINED = "declined"
    COMPLETED = "completed"
    WITHDRAWN = "withdrawn"  # the park took the ticket away: stop working on it


# The statuses in which the firm may still report on the item.
OPEN_STATUSES = frozenset(
    {ItemStatus.NEW, ItemStatus.ACCEPTED, ItemStatus.IN_PROGRESS, ItemStatus.WAITING}
)


class Recorded(StrEnum):
    """What :meth:`FirmStore.record` did with one delivery."""

    STORED = "stored"  # a new work item (or one that came back after a withdrawal)
    UPDATED = "updated"  # a newer copy of a live item's work: its details refreshed
    WITHDRAWN = "withdrawn"  # the item is now withdrawn
    DUPLICATE = "duplicate"  # seen before (same event, or older news about the ticket)


@dataclass(frozen=True)
class WorkItem:
    """One ticket of the firm, as stored."""

    ticket_id: str
    status: ItemStatus
    event_id: str | None
    correlation_id: str | None
    park_id: str | None
    payload: Mapping[str, Any] | None  # the work_assigned payload (JSON form)
    withdrawn_reason: str | None
    received_at: str
    updated_at: str

    @property
    def service_label(self) -> str:
        """``LEGAL-01 劳动合同审查`` (the code alone for a withdrawal never seen assigned)."""
        if not self.payload:
            return "?"
        code, name = self.payload.get("service_code", "?"), self.payload.get("service_name")
        return f"{code} {name}" if name else code

    @property
    def is_review(self) -> bool:
        """A legal or finance review of a buyback claim (outcome approve | reject)."""
        return bool(self.payload) and self.payload.get("origin") == "buyback_review"


@dataclass(frozen=True)
class StoredReport:
    """A report in the store, pending or sent."""

    seq: int
    event_id: str
    ticket_id: str
    type: str
    envelope: Mapping[str, Any]
    status: str
    created_at: str
    sent_at: str | None
    attempts: int
    last_error: str | None


def stamp(instant: datetime) -> str:
    """A UTC time as fixed-width text, so that text order is time order."""
    if instant.tzinfo is None:
        raise ValueError(f"naive datetime {instant!r}")
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class FirmStore:
    """The SQLite store of one firm (see the module docstring)."""

    def __init__(self, path: str | Path, *, timeout: float = 30.0):
        self.path = Path(path)
        self._db = sqlite3.connect(str(self.path), isolation_level=None, timeout=timeout)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA synchronous = FULL")  # committed means on disk: then ack
        self._db.executescript(_SCHEMA)
        self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "FirmStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- deliveries ---------------------------------------------------------------------

    def record(
        self,
        *,
        event_id: str,
        type_: str,
        occurred_at: datetime,
        payload: Mapping[str, Any],
        correlation_id: str | None = None,
        park_id: str | None = None,
        now: datetime,
    ) -> Recorded:
        """Commit one ``work_assigned`` or ``work_withdrawn`` delivery (JSON payload).

        Returns what it did; when this returns, the delivery is on disk and may be acked.
        """
        if type_ not in ("work_assigned", "work_withdrawn"):
            raise ValueError(f"not a work message: {type_}")
        ticket_id = payload["ticket_id"]
        at, received = stamp(occurred_at), stamp(now)
        with self._transaction() as db:
            seen = db.execute("SELECT 1 FROM deliveries WHERE event_id = ?", (event_id,))
            if seen.fetchone() is not None:
                return Recorded.DUPLICATE
            row = db.execute(
                "SELECT * FROM work_items WHERE ticket_id = ?", (ticket_id,)
            ).fetchone()
            if type_ == "work_assigned":
                outcome = self._assigned(
                    db, row, event_id, at, received, payload, correlation_id, park_id
                )
            else:
                outcome = self._withdrawn(db, row, ticket_id, at, received, payload["reason"])
            db.execute(
                "INSERT INTO deliveries (event_id, type, ticket_id, outcome, received_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (event_id, type_, ticket_id, outcome.value, received),
            )
            return outcome

    @staticmethod
    def _assigned(db, row, event_id, at, received, payload, correlation_id, park_id) -> Recorded:
        body = json.dumps(dict(payload), ensure_ascii=False, sort_keys=True)
        if row is None:
            db.execute(
                "INSERT INTO work_items (ticket_id, status, event_id, correlation_id, park_id, "
                "assigned_at, latest_at, payload, received_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    payload["ticket_id"],
                    ItemStatus.NEW.value,
                    event_id,
                    correlation_id,
                    park_id,
                    at,
                    at,
                    body,
                    received,
                    received,
                ),
            )
            return Recorded.STORED
        if at <= row["latest_at"]:
            if row["assigned_at"] is None or at > row["assigned_at"]:
                # Withdrawn later than this assignment: keep what the work was (the
                # latest assignment's details), the item stays withdrawn.
                db.execute(
                    "UPDATE work_items SET payload = ?, event_id = ?, correlation_id = ?, "
                    "park_id = ?, assigned_at = ? WHERE ticket_id = ?",
                    (body, event_id, correlation_id, park_id, at, payload["ticket_id"]),
                )
            return Recorded.DUPLICATE
        live = row["status"] != ItemStatus.WITHDRAWN
        # A live item keeps the firm's own progress; a withdrawn one starts again.
        status = row["status"] if live else ItemStatus.NEW.value
        db.execute(
            "UPDATE work_items SET status = ?, event_id = ?, correlation_id = ?, park_id = ?, "
            "assigned_at = ?, latest_at = ?, payload = ?, withdrawn_reason = NULL, "
            "updated_at = ? WHERE ticket_id = ?",
            (status, event_id, correlation_id, park_id, at, at, body, received, row["ticket_id"]),
        )
        return Recorded.UPDATED if live else Recorded.STORED

    @staticmethod
    def _withdrawn(db, row, ticket_id, at, received, reason) -> Recorded:
        if row is None:
            db.execute(
                "INSERT INTO work_items (ticket_id, status, latest_at, withdrawn_reason, "
                "received_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                (ticket_id, ItemStatus.WITHDRAWN.value, at, reason, received, received),
            )
            return Recorded.WITHDRAWN
        if at < row["latest_at"]:
            return Recorded.DUPLICATE  # the ticket came back after this withdrawal
        db.execute(
            "UPDATE work_items SET status = ?, latest_at = ?, withdrawn_reason = ?, "
            "updated_at = ? WHERE ticket_id = ?",
            (ItemStatus.WITHDRAWN.value, at, reason, received, ticket_id),
        )
        return Recorded.WITHDRAWN

    def quarantine(self, body: bytes, reason: str, *, now: datetime) -> None:
        """Keep a delivery that is not a valid work message (it is acked: the firm cannot
        dead-letter it; the park's operators can be shown it)."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO quarantine (received_at, reason, body) VALUES (?, ?, ?)",
                (stamp(now), reason, body),
            )

    def quarantined(self) -> list[tuple[str, str, bytes]]:
        rows = self._db.execute("SELECT received_at, reason, body FROM quarantine ORDER BY id")
        return [(r["received_at"], r["reason"], r["body"]) for r in rows]

    def deliveries_seen(self) -> int:
        return self._db.execute("SELECT count(*) FROM deliveries").fetchone()[0]

    # -- work items ---------------------------------------------------------------------

    def items(self, statuses: set[ItemStatus] | None = None) -> list[WorkItem]:
        rows = self._db.execute("SELECT * FROM work_items ORDER BY received_at, ticket_id")
        found = [_item(row) for row in rows]
        return [item for item in found if statuses is None or item.status in statuses]

    def item(self, ticket_id: str) -> WorkItem | None:
        row = self._db.execute("SELECT * FROM work_items WHERE ticket_id = ?", (ticket_id,))
        row = row.fetchone()
        return None if row is None else _item(row)

    # -- reports ------------------------------------------------------------------------

    def add_report(
        self,
        envelope: Mapping[str, Any],
        *,
        ticket_id: str,
        new_status: ItemStatus,
        expected: set[ItemStatus],
        now: datetime,
    ) -> bool:
        """Write a report as pending and move its item to ``new_status``, in one
        transaction — only if the item is still in one of ``expected`` (else False)."""
        at = stamp(now)
        with self._transaction() as db:
            row = db.execute(
                "SELECT status FROM work_items WHERE ticket_id = ?", (ticket_id,)
            ).fetchone()
            if row is None or row["status"] not in {s.value for s in expected}:
                return False
            db.execute(
                "INSERT INTO reports (event_id, ticket_id, type, envelope, status, created_at) "
                "VALUES (?, ?, ?, ?, 'pending', ?)",
                (
                    envelope["event_id"],
                    ticket_id,
                    envelope["type"],
                    json.dumps(dict(envelope), ensure_ascii=False),
                    at,
                ),
            )
            db.execute(
                "UPDATE work_items SET status = ?, updated_at = ? WHERE ticket_id = ?",
                (new_status.value, at, ticket_id),
            )
            return True

    def pending_reports(self) -> list[StoredReport]:
        rows = self._db.execute("SELECT * FROM reports WHERE status = 'pending' ORDER BY seq")
        return [_report(row) for row in rows]

    def reports(self, ticket_id: str | None = None) -> list[StoredReport]:
        if ticket_id is None:
            rows = self._db.execute("SELECT * FROM reports ORDER BY seq")
        else:
            rows = self._db.execute(
                "SELECT * FROM reports WHERE ticket_id = ? ORDER BY seq", (ticket_id,)
            )
        return [_report(row) for row in rows]

    def mark_sent(self, event_ids: list[str], *, now: datetime) -> None:
        with self._transaction() as db:
            db.executemany(
                "UPDATE reports SET status = 'sent', sent_at = ?, attempts = attempts + 1, "
                "last_error = NULL WHERE event_id = ?",
                [(stamp(now), event_id) for event_id in event_ids],
            )

    def mark_failed(self, event_ids: list[str], error: str) -> None:
        with self._transaction() as db:
            db.executemany(
                "UPDATE reports SET attempts = attempts + 1, last_error = ? WHERE event_id = ?",
                [(error[:2000], event_id) for event_id in event_ids],
            )


def _item(row: sqlite3.Row) -> WorkItem:
    return WorkItem(
        ticket_id=row["ticket_id"],
        status=ItemStatus(row["status"]),
        event_id=row["event_id"],
        correlation_id=row["correlation_id"],
        park_id=row["park_id"],
        payload=None if row["payload"] is None else json.loads(row["payload"]),
        withdrawn_reason=row["withdrawn_reason"],
        received_at=row["received_at"],
        updated_at=row["updated_at"],
    )


def _report(row: sqlite3.Row) -> StoredReport:
    return StoredReport(
        seq=row["seq"],
        event_id=row["event_id"],
        ticket_id=row["ticket_id"],
        type=row["type"],
        envelope=json.loads(row["envelope"]),
        status=row["status"],
        created_at=row["created_at"],
        sent_at=row["sent_at"],
        attempts=row["attempts"],
        last_error=row["last_error"],
    )
