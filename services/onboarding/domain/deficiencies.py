"""Accept-with-deficiencies (容缺) bookkeeping: the documents an applicant still owes.

An application missing required documents is accepted anyway, with one item per missing
document and a deadline. Items are cleared as documents arrive; what happens to an item
left overdue depends on the application (suspension before admission, escalation to the
chief service officer after), so that decision stays in :mod:`.applications`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from services.onboarding.domain.park import normalise_document_name


@dataclass
class DeficiencyItem:
    """A required document accepted as missing, owed by ``due_at``."""

    document: str
    due_at: datetime
    supplied_at: datetime | None = None
    escalated_at: datetime | None = None

    @property
    def outstanding(self) -> bool:
        """True while the document has not been supplied."""
        return self.supplied_at is None


def clear_items(
    items: Sequence[DeficiencyItem], documents: Iterable[str], now: datetime
) -> tuple[str, ...]:
    """Mark the outstanding items that ``documents`` supply; returns their documents."""
    supplied = {normalise_document_name(name) for name in documents}
    cleared = []
    for item in items:
        if item.outstanding and normalise_document_name(item.document) in supplied:
            item.supplied_at = now
            cleared.append(item.document)
    return tuple(cleared)


def due_for_escalation(items: Sequence[DeficiencyItem], now: datetime) -> list[DeficiencyItem]:
    """Outstanding items past their deadline that were not escalated yet."""
    return [
        item
        for item in items
        if item.outstanding and item.escalated_at is None and now >= item.due_at
    ]
