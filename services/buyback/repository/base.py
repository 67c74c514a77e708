"""The interfaces of buyback's repositories (the unit tests' fakes subclass them)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime
from typing import Any

from services.buyback.domain.claims import Claim
from services.buyback.domain.holdings import Holding


class AbstractHoldingRepository(ABC):
    """The projection of each enterprise's units and production start."""

    @abstractmethod
    def get(self, enterprise_id: str, *, lock: bool = False) -> Holding | None: ...

    @abstractmethod
    def get_for_update(self, enterprise_id: str, now: datetime) -> Holding:
        """The enterprise's holding, locked; an empty one (stored) when there was none,
        so that two first events of one enterprise never race to insert it."""

    @abstractmethod
    def save(self, holding: Holding, now: datetime) -> None: ...

    @abstractmethod
    def all(self) -> list[Holding]: ...

    @abstractmethod
    def of_park(self, park_id: str) -> list[Holding]:
        """The holdings of enterprises in ``park_id``."""

    @abstractmethod
    def parks(self) -> list[str]:
        """The parks any holding is in, sorted."""


class AbstractClaimRepository(ABC):
    """Claims, each one document with the columns queried beside it."""

    @abstractmethod
    def get(self, claim_id: str, *, lock: bool = False) -> Claim | None: ...

    @abstractmethod
    def open_claim_of(self, enterprise_id: str) -> Claim | None: ...

    @abstractmethod
    def add(self, claim: Claim) -> None: ...

    @abstractmethod
    def save(self, claim: Claim) -> None: ...

    @abstractmethod
    def due(self, now: datetime, limit: int) -> list[Claim]:
        """Claims with ``next_due_at <= now``, earliest first, locked (skipping those
        another scanner holds)."""

    @abstractmethod
    def query(
        self, state: str | None, limit: int, before: tuple[datetime, str] | None = None
    ) -> list[Claim]:
        """Newest first (``filed_at``, then ``claim_id``, descending); ``before``: only
        those after that (filed_at, claim_id) position in this order (the next page)."""

    @abstractmethod
    def settled_units(self) -> frozenset[tuple[str | None, str]]:
        """``(park_id, unit_id)`` of claims settled and awaiting their release
        (``awaiting_release``, ``stuck``)."""


class AbstractHistoryRepository(ABC):
    """Every step of every claim, in order, with its time (and event id when one was
    published)."""

    @abstractmethod
    def append(
        self,
        claim_id: str,
        step: str,
        at: datetime,
        detail: dict[str, Any],
        event_id: str | None = None,
        *,
        sender: str | None = None,
    ) -> None:
        """``sender``: the verified broker user of the message that caused the step."""

    @abstractmethod
    def of(self, claim_id: str) -> list[dict[str, Any]]: ...
