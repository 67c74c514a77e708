"""The contract's text and the docs say what the code sends (reviewer's findings):
every ``ticket_resumed.by`` and every ``work_withdrawn.reason`` the code can emit is
named, nothing it never sends is, and the firms' guide uses real (UUID) ticket ids."""

from __future__ import annotations

import re
from pathlib import Path

from services.ticketing.domain.routing import ReassignReason
from shared.contract import ticketing as contract

ROOT = Path(__file__).resolve().parents[4]
HANDLERS = (ROOT / "services" / "ticketing" / "handlers.py").read_text(encoding="utf-8")
TICKETS = (ROOT / "services" / "ticketing" / "domain" / "tickets.py").read_text(encoding="utf-8")


def _named(text: str) -> set[str]:
    return set(re.findall(r"``([a-z_]+)``", text))


def test_every_ticket_resumed_by_is_named_in_the_contract() -> None:
    resumed = re.findall(r'\.resume\("([a-z_]+)"', TICKETS + HANDLERS)
    sent = set(resumed) | {r.value for r in ReassignReason}
    assert sent == {"enterprise", "firm", "declined", "firm_disabled"}
    assert sent <= _named(contract.TicketResumed.__doc__)


def test_work_withdrawn_names_exactly_the_reasons_sent() -> None:
    sent = set(re.findall(r'withdraw_work\([^)]*"([a-z_]+)"\)', HANDLERS))
    assert sent == {"firm_disabled", "ticket_cancelled"}
    named = _named(contract.WorkWithdrawn.__doc__) - {"reason"}
    assert named == sent


def test_the_docs_name_the_resumed_by_values_and_use_uuid_ticket_ids() -> None:
    ticketing_md = (ROOT / "docs" / "ticketing.md").read_text(encoding="utf-8")
    for by in ("declined", "firm_disabled"):
        assert f"`{by}`" in ticketing_md.split("### `ticketing.events` / `ticket_resumed`")[1][:900]
    firms_md = (ROOT / "docs" / "firms.md").read_text(encoding="utf-8")
    assert not re.search(r"\bT-\d{3,}", firms_md)
