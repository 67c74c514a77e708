"""The ledger: balanced postings. That the trial balance is zero after any sequence of
operations, every account agreeing with the documents, is checked on the use cases:
``test_ledger_sequences.py`` (SQLite) and ``tests/service/test_ledger_on_postgres.py``."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.billing.domain.ledger import (
    CASH,
    RECEIVABLES,
    SUSPENSE,
    Entry,
    Posting,
    UnbalancedPosting,
    post,
)

AT = datetime(2026, 1, 1, tzinfo=UTC)


def test_an_unbalanced_posting_cannot_exist():
    with pytest.raises(UnbalancedPosting):
        Posting(
            kind="x",
            ref="r",
            enterprise_id=None,
            posted_at=AT,
            entries=(Entry(account=CASH, amount_fen=1),),
        )


def test_zero_amounts_are_dropped_and_debits_are_positive():
    posting = post("p", "r", None, AT, {CASH: 10, SUSPENSE: 0}, {RECEIVABLES: 10})
    assert [(e.account, e.amount_fen) for e in posting.entries] == [(CASH, 10), (RECEIVABLES, -10)]
