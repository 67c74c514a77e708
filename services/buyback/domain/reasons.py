"""Why a claim was found ineligible or a request refused: stable codes, readable messages."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ReasonCode(StrEnum):
    """The machine-readable codes of ``claim_ineligible`` and friends (docs/buyback.md)."""

    UNKNOWN_ENTERPRISE = "unknown_enterprise"
    NO_PURCHASED_UNITS = "no_purchased_units"
    PRODUCTION_NOT_STARTED = "production_not_started"
    WINDOW_EXPIRED = "window_expired"
    CLAIM_OPEN = "claim_open"
    CONFLICTING_DUPLICATE = "conflicting_duplicate"


@dataclass(frozen=True)
class Reason:
    """One reason: a stable code, a readable message, the payload field at fault (or None)."""

    code: str
    message: str
    field: str | None = None

    def to_dict(self) -> dict:
        return {"code": str(self.code), "message": self.message, "field": self.field}

    @classmethod
    def from_dict(cls, data: dict) -> Reason:
        return cls(data["code"], data["message"], data.get("field"))
