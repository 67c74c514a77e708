"""Buyback's repositories: the abstract interfaces the use cases rely on, and their
SQLAlchemy implementations (one module per kind of thing stored)."""

from services.buyback.repository.base import (
    AbstractClaimRepository,
    AbstractHistoryRepository,
    AbstractHoldingRepository,
)
from services.buyback.repository.claims import ClaimRepository
from services.buyback.repository.history import HistoryRepository
from services.buyback.repository.holdings import HoldingRepository

__all__ = [
    "AbstractClaimRepository",
    "AbstractHistoryRepository",
    "AbstractHoldingRepository",
    "ClaimRepository",
    "HistoryRepository",
    "HoldingRepository",
]
