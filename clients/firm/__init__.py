"""The resident firms' client: fetch work from the firm's own queue into a local store,
report on it (``firms.events``). A library (:class:`FirmClient`) and the ``firm`` CLI;
``docs/firms.md`` is the guide."""

from clients.firm.client import (
    BrokerUnavailable,
    ConfigurationError,
    FetchResult,
    FirmClient,
    FirmClientError,
    InvalidReport,
    ReportResult,
    SendResult,
    TicketNotOpen,
    UnknownTicket,
)
from clients.firm.store import FirmStore, ItemStatus, Recorded, WorkItem

__all__ = [
    "BrokerUnavailable",
    "ConfigurationError",
    "FetchResult",
    "FirmClient",
    "FirmClientError",
    "FirmStore",
    "InvalidReport",
    "ItemStatus",
    "Recorded",
    "ReportResult",
    "SendResult",
    "TicketNotOpen",
    "UnknownTicket",
    "WorkItem",
]
