"""The ledger: balanced postings; the trial balance is zero after any sequence of
operations, and every account's balance equals the domain's own totals."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.billing.domain.charges import service_fee
from services.billing.domain.invoices import InvoiceStatus
from services.billing.domain.ledger import (
    BUYBACK_PAYABLE,
    CASH,
    CUSTOMER_CREDIT,
    FIRM_PAYABLES,
    RECEIVABLES,
    SUSPENSE,
    UNITS_REPURCHASED,
    VAT_PAYABLE,
    Entry,
    Posting,
    UnbalancedPosting,
    balances,
    post,
    revenue,
    trial_balance,
)
from services.billing.domain.payments import (
    Payment,
    SuspenseStatus,
    match_suspense_item,
    park_in_suspense,
)
from services.billing.domain.proration import Month
from services.billing.tests.unit.builders import TERMS, USCC, Ids, account, leased, purchased

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


class World:
    """One account, the suspense items and every posting, driven by random operations."""

    def __init__(self) -> None:
        self.ids = Ids()
        self.acct = account()
        self.acct.allocate_units(
            [purchased(held_from=date(2026, 1, 10)), leased(held_from=date(2026, 1, 20))], TERMS
        )
        self.month = Month(2026, 1)
        self.suspense = []
        self.suspense_postings = []
        self.payments = []
        self.settled = False

    @property
    def today(self) -> date:
        return self.month.first_day

    def postings(self):
        return [*self.acct.postings, *self.suspense_postings]

    def issued(self):
        return [i for i in self.acct.invoices if i.status is not InvoiceStatus.DRAFT]

    def cycle(self) -> None:
        acct = self.acct
        acct.mark_overdue(self.today, AT)
        acct.charge_late_fees(self.today, TERMS, AT)
        draft = acct.draft_invoice(self.ids(), acct.charges_for(self.month, TERMS), TERMS)
        if draft is not None:
            acct.issue_invoice(
                draft.invoice_id, self.ids.number(self.today.year), self.today, TERMS, AT
            )
        self.month = self.month.plus(1)

    def pay(self, amount: int, use_reference: bool) -> None:
        issued = self.issued()
        reference = issued[-1].number if use_reference and issued else ""
        payment = Payment(
            bank_txn_id=self.ids(),
            payer_uscc=USCC,
            amount_fen=amount,
            received_at=AT,
            reference=reference,
        )
        self.payments.append(payment)
        self.acct.apply_payment(payment, AT)

    def pay_again(self) -> None:
        if self.payments:
            self.acct.apply_payment(self.payments[-1], AT)  # redelivery: no second effect

    def credit(self, pick: int, share: Decimal) -> None:
        issued = [i for i in self.issued() if i.creditable_fen > 0]
        if issued:
            invoice = issued[pick % len(issued)]
            amount = max(1, int(invoice.creditable_fen * share))
            self.acct.issue_credit_note(self.ids(), invoice.invoice_id, amount, "fix", AT, by="ops")

    def waive(self, pick: int) -> None:
        overdue = [
            i for i in self.issued() if i.late_fee_charged_fen and i.late_fee_waived_at is None
        ]
        if overdue:
            invoice = overdue[pick % len(overdue)]
            self.acct.waive_late_fees(invoice.invoice_id, "ops", "goodwill", AT, self.ids)

    def unmatched(self, amount: int) -> None:
        payment = Payment(
            bank_txn_id=self.ids(), payer_uscc="UNKNOWN", amount_fen=amount, received_at=AT
        )
        item, posting, _event = park_in_suspense(payment, "unknown_payer", None, AT)
        self.suspense.append(item)
        self.suspense_postings.append(posting)

    def match(self, pick: int) -> None:
        waiting = [i for i in self.suspense if i.status is SuspenseStatus.UNMATCHED]
        if waiting:
            payment = match_suspense_item(waiting[pick % len(waiting)], "ent-1", "ops", AT)
            self.acct.apply_payment(payment, AT, from_suspense=True)

    def service(self, fee: int) -> None:
        self.acct.record_service_fee(
            service_fee(self.ids(), "firm-1", "legal", fee, TERMS.service_commission_rate), AT
        )

    def buyback(self) -> None:
        if self.settled:
            return
        self.settled = True
        acct = self.acct
        acct.charge_late_fees(self.today, TERMS, AT)
        late = acct.draft_invoice(self.ids(), list(acct.pending_charges), TERMS)
        if late is not None:
            acct.issue_invoice(
                late.invoice_id, self.ids.number(self.today.year), self.today, TERMS, AT
            )
        acct.settle_buyback("claim", ["A-101"], 96_000_000, self.today, AT, self.ids)

    def check(self) -> None:
        postings = self.postings()
        ledger = defaultdict(int, balances(postings))
        assert trial_balance(postings) == 0
        acct = self.acct
        assert ledger[RECEIVABLES] == acct.receivable_fen()
        assert ledger[CUSTOMER_CREDIT] == -acct.credit_balance_fen
        issued = self.issued()
        notes = acct.credit_notes
        assert ledger[VAT_PAYABLE] == -(
            sum(i.tax_fen for i in issued) - sum(n.tax_fen for n in notes)
        )
        net = defaultdict(int)
        for invoice in issued:
            for line in invoice.lines:
                net[line.category] += line.net_fen - line.payable_fen
        for note in notes:
            for line in note.lines:
                net[line.category] -= line.net_fen - line.payable_fen
        for category, amount in net.items():
            assert ledger[revenue(category)] == -amount
        unmatched = sum(
            i.payment.amount_fen for i in self.suspense if i.status is SuspenseStatus.UNMATCHED
        )
        assert ledger[SUSPENSE] == -unmatched
        assert ledger[CASH] == sum(p.amount_fen for p in self.payments) + sum(
            i.payment.amount_fen for i in self.suspense
        )
        # the firms are owed their share of the invoiced services, less what credits took
        assert ledger[FIRM_PAYABLES] == -(
            sum(line.payable_fen for invoice in issued for line in invoice.lines)
            - sum(line.payable_fen for note in notes for line in note.lines)
        )
        assert ledger[BUYBACK_PAYABLE] == -sum(max(0, s.net_fen) for s in acct.settlements)
        assert ledger[UNITS_REPURCHASED] == sum(
            s.gross_fen - sum(o.amount_fen for o in s.offsets if o.kind == "purchase_balance")
            for s in acct.settlements
        )
        for invoice in acct.invoices:
            assert 0 <= invoice.credited_fen <= invoice.total_fen
            assert 0 <= invoice.paid_fen <= invoice.total_fen  # a credit beyond: credit balance


operation = st.one_of(
    st.tuples(st.just("cycle")),
    st.tuples(st.just("pay"), st.integers(1, 40_000_000), st.booleans()),
    st.tuples(st.just("pay_again")),
    st.tuples(st.just("credit"), st.integers(0, 50), st.decimals("0.01", "1", places=2)),
    st.tuples(st.just("waive"), st.integers(0, 50)),
    st.tuples(st.just("unmatched"), st.integers(1, 5_000_000)),
    st.tuples(st.just("match"), st.integers(0, 50)),
    st.tuples(st.just("service"), st.integers(0, 1_000_000)),
    st.tuples(st.just("buyback")),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(operation, max_size=40))
def test_the_trial_balance_is_zero_and_every_account_matches_the_domain(operations):
    world = World()
    for name, *args in operations:
        getattr(world, name)(*args)
        world.check()
