"""Billing's queries (SQLAlchemy 2 Core over the unit of work's session).

Rows come back as plain dicts (``row._mapping``); the use cases in ``handlers/`` turn
them into the domain's values where a rule applies. Locks:

- an account is taken ``FOR UPDATE`` by every use case that changes its money (the billing
  cycle with ``SKIP LOCKED``: a second instance skips what the first is billing);
- the invoice counter of (park, year) is taken ``FOR UPDATE`` in the issuing transaction:
  the number and the invoice commit together, a rollback leaves no gap.

Lock order, everywhere: the account, then its invoices, then the counter.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from services.billing import orm

Row = dict[str, Any]


def _rows(result) -> list[Row]:
    return [dict(row._mapping) for row in result]


def _one(result) -> Row | None:
    row = result.first()
    return dict(row._mapping) if row is not None else None


class BillingRepository:
    def __init__(self, session: Session):
        self.session = session
        self.dialect = session.connection().dialect.name

    @property
    def postgres(self) -> bool:
        return self.dialect == "postgresql"

    def _exec(self, statement, *args):
        return self.session.execute(statement, *args)

    # -- accounts -------------------------------------------------------------------------

    def account(self, enterprise_id: str, *, lock: bool = False, skip_locked=False) -> Row | None:
        query = select(orm.accounts).where(orm.accounts.c.enterprise_id == enterprise_id)
        if lock:
            query = query.with_for_update(skip_locked=skip_locked)
        return _one(self._exec(query))

    def account_by_uscc(self, uscc: str, *, lock: bool = False) -> Row | None:
        query = (
            select(orm.accounts)
            .where(orm.accounts.c.uscc == uscc)
            .order_by(orm.accounts.c.admitted_at)
        )
        if lock:
            query = query.with_for_update()
        return _one(self._exec(query))

    def add_account(self, **values) -> bool:
        """False if the enterprise already has an account (a redelivered admission)."""
        insert_ = pg_insert if self.postgres else sqlite_insert
        statement = insert_(orm.accounts).values(**values).on_conflict_do_nothing()
        return self._exec(statement).rowcount == 1

    def lock_payer(self, uscc: str) -> None:
        """Serialise, per USCC, a payment's look-up of its payer with that payer's
        admission (a transaction-scoped advisory lock on PostgreSQL; SQLite runs one
        writer at a time): a payment either finds the new account or is in suspense
        before the admission looks for it — never neither."""
        if self.postgres:
            self._exec(select(func.pg_advisory_xact_lock(func.hashtext(f"billing-payer:{uscc}"))))

    def suspended_payments(self, uscc: str) -> list[Row]:
        """Payments of ``uscc`` in suspense (unknown payer), oldest first, locked."""
        p = orm.payments.c
        return _rows(
            self._exec(
                select(orm.payments)
                .where(p.payer_uscc == uscc, p.status == "suspense")
                .order_by(p.received_at, p.bank_txn_id)
                .with_for_update()
            )
        )

    def account_ids(self, park_id: str | None = None) -> list[str]:
        query = select(orm.accounts.c.enterprise_id).order_by(orm.accounts.c.enterprise_id)
        if park_id is not None:
            query = query.where(orm.accounts.c.park_id == park_id)
        return [row[0] for row in self._exec(query)]

    def change_credit(self, enterprise_id: str, change_fen: int) -> int:
        self._exec(
            update(orm.accounts)
            .where(orm.accounts.c.enterprise_id == enterprise_id)
            .values(credit_fen=orm.accounts.c.credit_fen + change_fen)
        )
        return self.account(enterprise_id)["credit_fen"]

    # -- holdings and instalments -------------------------------------------------------

    def holdings(self, enterprise_id: str) -> list[Row]:
        return _rows(
            self._exec(
                select(orm.holdings)
                .where(orm.holdings.c.enterprise_id == enterprise_id)
                .order_by(orm.holdings.c.id)
            )
        )

    def holding_exists(self, enterprise_id: str, unit_id: str, contract_id: str) -> bool:
        h = orm.holdings.c
        query = select(h.id).where(
            h.enterprise_id == enterprise_id, h.unit_id == unit_id, h.contract_id == contract_id
        )
        return self._exec(query).first() is not None

    def add_holding(self, **values) -> None:
        self._exec(insert(orm.holdings).values(**values))

    def end_holdings(self, enterprise_id: str | None, unit_ids: Iterable[str], end_on: date):
        """Holdings among ``unit_ids`` stop on ``end_on`` — held ones, and ended ones that
        ended later (the earliest end stands, whatever order the releases arrive in);
        returns the rows changed, each with ``ended_before`` (its end until now, or None)."""
        h = orm.holdings.c
        query = select(orm.holdings).where(
            h.unit_id.in_(list(unit_ids)), or_(h.end_on.is_(None), h.end_on > end_on)
        )
        if enterprise_id is not None:
            query = query.where(h.enterprise_id == enterprise_id)
        changed = _rows(self._exec(query))
        for row in changed:
            self._exec(update(orm.holdings).where(h.id == row["id"]).values(end_on=end_on))
            row["ended_before"] = row["end_on"]
            row["end_on"] = end_on
        return changed

    def add_instalments(self, rows: list[Row]) -> None:
        if rows:
            self._exec(insert(orm.instalments), rows)

    def instalments(self, enterprise_id: str) -> list[Row]:
        i = orm.instalments.c
        return _rows(
            self._exec(
                select(orm.instalments)
                .where(i.enterprise_id == enterprise_id)
                .order_by(i.bill_month, i.unit_id, i.sequence)
            )
        )

    def mark_instalments(self, ids: list[int], **values) -> None:
        if ids:
            self._exec(
                update(orm.instalments).where(orm.instalments.c.id.in_(ids)).values(**values)
            )

    # -- meters -------------------------------------------------------------------------

    def meter(self, meter_id: str) -> Row | None:
        return _one(self._exec(select(orm.meters).where(orm.meters.c.meter_id == meter_id)))

    def add_meter(self, **values) -> None:
        self._exec(insert(orm.meters).values(**values))

    def save_meter(self, meter_id: str, **values) -> None:
        self._exec(update(orm.meters).where(orm.meters.c.meter_id == meter_id).values(**values))

    def holder_of(self, unit_id: str) -> str | None:
        """The enterprise holding ``unit_id`` now (its holding not ended), or None."""
        h = orm.holdings.c
        query = (
            select(h.enterprise_id)
            .where(h.unit_id == unit_id, h.end_on.is_(None))
            .order_by(h.id.desc())
        )
        row = self._exec(query).first()
        return row[0] if row is not None else None

    def meters_of_units(self, unit_ids: Iterable[str]) -> list[Row]:
        return _rows(
            self._exec(
                select(orm.meters)
                .where(orm.meters.c.unit_id.in_(list(unit_ids)))
                .order_by(orm.meters.c.meter_id)
            )
        )

    # -- charges (paid services) ----------------------------------------------------------

    def add_charge(self, **values) -> bool:
        """False if a charge with this ``source_key`` exists (charged once)."""
        insert_ = pg_insert if self.postgres else sqlite_insert
        statement = (
            insert_(orm.charges)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["source_key"])
        )
        return self._exec(statement).rowcount == 1

    def open_charges(self, enterprise_id: str) -> list[Row]:
        c = orm.charges.c
        return _rows(
            self._exec(
                select(orm.charges)
                .where(c.enterprise_id == enterprise_id, c.invoice_id.is_(None))
                .order_by(c.created_at, c.charge_id)
            )
        )

    def bill_charges(self, charge_ids: list[str], invoice_id: str) -> None:
        if charge_ids:
            self._exec(
                update(orm.charges)
                .where(orm.charges.c.charge_id.in_(charge_ids))
                .values(invoice_id=invoice_id)
            )

    # -- invoices -------------------------------------------------------------------------

    def invoice(self, invoice_id: str, *, lock: bool = False) -> Row | None:
        query = select(orm.invoices).where(orm.invoices.c.invoice_id == invoice_id)
        if lock:
            query = query.with_for_update()
        return _one(self._exec(query))

    def invoice_by_number(self, number: str) -> Row | None:
        return _one(self._exec(select(orm.invoices).where(orm.invoices.c.number == number)))

    def invoice_by_key(self, issue_key: str, *, lock: bool = False) -> Row | None:
        query = select(orm.invoices).where(orm.invoices.c.issue_key == issue_key)
        if lock:
            query = query.with_for_update()
        return _one(self._exec(query))

    def issue_keys(self, enterprise_id: str) -> set[str]:
        i = orm.invoices.c
        query = select(i.issue_key).where(i.enterprise_id == enterprise_id)
        return {row[0] for row in self._exec(query)}

    def issue_key_taken(self, issue_key: str) -> bool:
        query = select(orm.invoices.c.invoice_id).where(orm.invoices.c.issue_key == issue_key)
        return self._exec(query).first() is not None

    def add_invoice(self, **values) -> None:
        self._exec(insert(orm.invoices).values(**values))

    def update_invoice(self, invoice_id: str, **values) -> None:
        self._exec(
            update(orm.invoices).where(orm.invoices.c.invoice_id == invoice_id).values(**values)
        )

    def invoices(self, enterprise_id: str) -> list[Row]:
        i = orm.invoices.c
        return _rows(
            self._exec(
                select(orm.invoices)
                .where(i.enterprise_id == enterprise_id)
                .order_by(i.issued_at, i.number)
            )
        )

    def open_invoices(self, enterprise_id: str) -> list[Row]:
        """Invoices with money outstanding, oldest due first (the order payments take)."""
        i = orm.invoices.c
        return _rows(
            self._exec(
                select(orm.invoices)
                .where(
                    i.enterprise_id == enterprise_id,
                    i.total_fen - i.paid_fen - i.credited_fen > 0,
                )
                .order_by(i.due_on, i.issued_at, i.number)
            )
        )

    def record_settlement(self, invoice: Row, on: date, amount_fen: int, kind: str, ref: str):
        """``amount_fen`` of ``invoice``'s balance was settled on ``on`` (``kind``)."""
        if amount_fen > 0:
            self._exec(
                insert(orm.invoice_settlements).values(
                    invoice_id=invoice["invoice_id"],
                    park_id=invoice["park_id"],
                    settled_on=on,
                    amount_fen=amount_fen,
                    kind=kind,
                    ref=ref[:200] if ref else None,
                )
            )

    def late_fee_candidates(self, enterprise_id: str, on: date) -> list[Row]:
        """The enterprise's invoices that may have accrued a late fee by ``on``: due
        before it, not waived, and either still owed or settled after their last accrual
        (an invoice paid late, between two cycles, still owes the days it was late)."""
        i, s = orm.invoices.c, orm.invoice_settlements.c
        last_accrual = func.coalesce(i.late_fee_through, i.due_on)
        settled_late = (
            select(s.invoice_id)
            .where(s.invoice_id == i.invoice_id, s.settled_on > last_accrual)
            .exists()
        )
        return _rows(
            self._exec(
                select(orm.invoices)
                .where(
                    i.enterprise_id == enterprise_id,
                    i.due_on < on,
                    i.late_fee_waived.is_(False),
                    or_(i.total_fen - i.paid_fen - i.credited_fen > 0, settled_late),
                )
                .order_by(i.due_on, i.issued_at, i.number)
            )
        )

    def settlements_of(self, invoice_id: str) -> list[tuple[date, int]]:
        """What lowered the invoice's balance, and on which park date."""
        s = orm.invoice_settlements.c
        query = select(s.settled_on, s.amount_fen).where(s.invoice_id == invoice_id).order_by(s.id)
        return [(settled_on, int(amount)) for settled_on, amount in self._exec(query)]

    def settled_after(self, park_id: str, on: date) -> dict[str, int]:
        """Per invoice of the park, what was settled on it after the park date ``on``."""
        s = orm.invoice_settlements.c
        query = (
            select(s.invoice_id, func.sum(s.amount_fen))
            .where(s.park_id == park_id, s.settled_on > on)
            .group_by(s.invoice_id)
        )
        return {invoice_id: int(total) for invoice_id, total in self._exec(query)}

    def park_invoices(self, park_id: str) -> list[Row]:
        i = orm.invoices.c
        return _rows(self._exec(select(orm.invoices).where(i.park_id == park_id)))

    def overdue_candidates(self, today: date) -> list[Row]:
        i = orm.invoices.c
        return _rows(
            self._exec(
                select(orm.invoices)
                .where(
                    i.due_on < today,
                    i.overdue.is_(False),
                    i.total_fen - i.paid_fen - i.credited_fen > 0,
                )
                .order_by(i.due_on)
            )
        )

    def next_number(self, park_id: str, year: int) -> int:
        """The next number of the (park, year) series, its counter row locked until commit."""
        c = orm.invoice_counters.c
        key = and_(c.park_id == park_id, c.year == year)
        row = self._exec(select(c.last_number).where(key).with_for_update()).first()
        if row is None:
            insert_ = pg_insert if self.postgres else sqlite_insert
            self._exec(
                insert_(orm.invoice_counters)
                .values(park_id=park_id, year=year, last_number=0)
                .on_conflict_do_nothing()
            )
            row = self._exec(select(c.last_number).where(key).with_for_update()).first()
        number = row[0] + 1
        self._exec(update(orm.invoice_counters).where(key).values(last_number=number))
        return number

    # -- payments ------------------------------------------------------------------------

    def payment(self, bank_txn_id: str, *, lock: bool = False) -> Row | None:
        query = select(orm.payments).where(orm.payments.c.bank_txn_id == bank_txn_id)
        if lock:
            query = query.with_for_update()
        return _one(self._exec(query))

    def add_payment(self, **values) -> None:
        """Its primary key is the bank transaction: a concurrent second insert fails."""
        self._exec(insert(orm.payments).values(**values))

    def update_payment(self, bank_txn_id: str, **values) -> None:
        self._exec(
            update(orm.payments).where(orm.payments.c.bank_txn_id == bank_txn_id).values(**values)
        )

    def payments_of(self, enterprise_id: str) -> list[Row]:
        p = orm.payments.c
        return _rows(
            self._exec(
                select(orm.payments).where(p.enterprise_id == enterprise_id).order_by(p.received_at)
            )
        )

    # -- late fees -----------------------------------------------------------------------

    def add_late_fee(self, **values) -> None:
        self._exec(insert(orm.late_fees).values(**values))

    def late_fees(self, *, enterprise_id=None, invoice_id=None, unbilled=False) -> list[Row]:
        f = orm.late_fees.c
        query = select(orm.late_fees).order_by(f.accrued_through, f.late_fee_id)
        if enterprise_id is not None:
            query = query.where(f.enterprise_id == enterprise_id)
        if invoice_id is not None:
            query = query.where(f.invoice_id == invoice_id)
        if unbilled:
            query = query.where(f.billed_invoice_id.is_(None), f.waived.is_(False))
        return _rows(self._exec(query))

    def update_late_fee(self, late_fee_id: str, **values) -> None:
        self._exec(
            update(orm.late_fees).where(orm.late_fees.c.late_fee_id == late_fee_id).values(**values)
        )

    # -- credit notes, audit, settlements ------------------------------------------------

    def add_credit_note(self, **values) -> None:
        self._exec(insert(orm.credit_notes).values(**values))

    def credit_notes(self, enterprise_id: str) -> list[Row]:
        n = orm.credit_notes.c
        return _rows(
            self._exec(
                select(orm.credit_notes)
                .where(n.enterprise_id == enterprise_id)
                .order_by(n.issued_at)
            )
        )

    def audit(self, **values) -> None:
        self._exec(insert(orm.audit).values(**values))

    def audit_trail(self, subject: str) -> list[Row]:
        a = orm.audit.c
        return _rows(self._exec(select(orm.audit).where(a.subject == subject).order_by(a.id)))

    def settlement(self, claim_id: str) -> Row | None:
        s = orm.settlements.c
        return _one(self._exec(select(orm.settlements).where(s.claim_id == claim_id)))

    def add_settlement(self, **values) -> None:
        self._exec(insert(orm.settlements).values(**values))

    def update_settlement(self, claim_id: str, **values) -> None:
        s = orm.settlements.c
        self._exec(update(orm.settlements).where(s.claim_id == claim_id).values(**values))

    # -- the ledger ----------------------------------------------------------------------

    def post(self, entries: list[Row]) -> None:
        self._exec(insert(orm.ledger), entries)

    def trial_balance(self) -> dict[str, int]:
        l_ = orm.ledger.c
        query = select(l_.account, func.sum(l_.amount_fen)).group_by(l_.account)
        return {account: int(total) for account, total in self._exec(query)}

    def ledger_of(self, *, park_id=None, enterprise_id=None, prefix=None) -> list[Row]:
        l_ = orm.ledger.c
        query = select(orm.ledger).order_by(l_.id)
        if park_id is not None:
            query = query.where(l_.park_id == park_id)
        if enterprise_id is not None:
            query = query.where(l_.enterprise_id == enterprise_id)
        if prefix is not None:
            query = query.where(l_.account.like(f"{prefix}%"))
        return _rows(self._exec(query))
