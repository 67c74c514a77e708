"""The ledger: a posting is balanced integer fen or does not exist; the handlers store
only such postings (``test_handlers.py``). That the trial balance is zero after any
sequence of operations, every account agreeing with the documents, is checked on the use
cases: ``test_ledger_sequences.py`` (SQLite) and ``tests/service/test_ledger_on_postgres.py``."""

from __future__ import annotations

import pytest

from services.billing.domain.ledger import (
    CASH,
    RECEIVABLES,
    SUSPENSE,
    Entry,
    Posting,
    UnbalancedPosting,
    posting,
)


def test_an_unbalanced_posting_cannot_exist():
    with pytest.raises(UnbalancedPosting):
        Posting(memo="x", entries=(Entry(account=CASH, amount_fen=1),))
    with pytest.raises(UnbalancedPosting):
        posting("payment t1", [(CASH, 100), (SUSPENSE, -99)])


def test_an_amount_is_integer_fen_even_when_it_would_balance():
    with pytest.raises(TypeError):
        posting("payment t2", [(CASH, 1.5), (SUSPENSE, -1.5)])


def test_zero_amounts_are_dropped_and_debits_are_positive():
    made = posting("payment t3", [(CASH, 10), (SUSPENSE, 0), (RECEIVABLES, -10)])
    assert [(e.account, e.amount_fen) for e in made.entries] == [(CASH, 10), (RECEIVABLES, -10)]
