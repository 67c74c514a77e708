"""An enterprise's account: the aggregate the service loads, changes and saves.

Plain fields (the repository maps them as they are): ``enterprise_id``, ``uscc``,
``park_id``, held ``units``, purchase ``instalments``, ``invoices``, ``credit_notes``,
``credit_balance_fen`` (overpayments and excess credits, owed to the enterprise),
``payments`` (applied, by ``bank_txn_id``), ``pending_charges`` (paid services waiting
for the next cycle), ``firm_payables_fen`` (per firm), ``settlements``. Two lists are
outputs the service drains after each command: ``events`` (to the outbox) and
``postings`` (to the ledger table).

The public commands, each with the ids, dates (park-local) and time (``at``, UTC) it
needs injected:

- :meth:`allocate_units` / :meth:`release_units` — ``units_allocated`` /
  ``units_released``: units held, purchase schedules made; a release credits what was
  billed in advance for the days from the release date;
- :meth:`charges_for` — what a cycle bills for a month (instalments due, rent and
  property fees prorated, pending paid services); the service adds utilities
  (:func:`.charges.utility_charge`) and :meth:`charge_late_fees`;
- :meth:`draft_invoice` (skips any charge whose ``source`` is already on an invoice: the
  cycle can run twice) then :meth:`issue_invoice` (number from the repository; the
  credit balance is applied at once — ``credit_applied``);
- :meth:`apply_payment` (:mod:`.payments`), :meth:`issue_credit_note`,
  :meth:`mark_overdue`, :meth:`charge_late_fees`, :meth:`waive_late_fees`,
  :meth:`record_service_fee`;
- :meth:`compute_buyback_settlement` (``settlement_requested``) and
  :meth:`settle_buyback` (``claim_settled``) — :mod:`.buyback_netting`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from services.billing.domain import events as ev
from services.billing.domain.buyback_netting import (
    INVOICE,
    PURCHASE_BALANCE,
    Offset,
    Settlement,
    compute_settlement,
    purchase_lines_owed,
)
from services.billing.domain.charges import (
    Charge,
    HeldUnit,
    Instalment,
    ServiceFee,
    Tenure,
    billable_months,
    property_fee_charge,
    purchase_schedule,
    recurring_charges_until,
    rent_charge,
)
from services.billing.domain.errors import NotYetApplicable, Refused
from services.billing.domain.invoices import (
    CreditNote,
    Invoice,
    InvoiceStatus,
    credit_lines,
    line_for,
    release_credit_fen,
)
from services.billing.domain.late_fees import charge_late_fee, record_waiver
from services.billing.domain.ledger import (
    BUYBACK_PAYABLE,
    CASH,
    CUSTOMER_CREDIT,
    RECEIVABLES,
    SUSPENSE,
    UNITS_REPURCHASED,
    Accumulator,
    Posting,
    reversed_entries,
    sale_entries,
)
from services.billing.domain.payments import Payment, allocate
from services.billing.domain.proration import Month
from services.billing.domain.terms import BillingTerms
from services.billing.domain.vat import Category, late_fee_rate, rate_for

#: The reason of a release's credit notes (how a later release finds what it credited).
RELEASE_REASON = "unit {unit_id} not held from "


@dataclass(kw_only=True)
class Account:
    """One admitted enterprise's account in one park (see the module doc)."""

    enterprise_id: str
    uscc: str
    park_id: str | None
    units: list[HeldUnit] = field(default_factory=list)
    instalments: list[Instalment] = field(default_factory=list)
    invoices: list[Invoice] = field(default_factory=list)
    credit_notes: list[CreditNote] = field(default_factory=list)
    credit_balance_fen: int = 0
    payments: list[Payment] = field(default_factory=list)
    pending_charges: list[Charge] = field(default_factory=list)
    firm_payables_fen: dict[str, int] = field(default_factory=dict)
    settlements: list[Settlement] = field(default_factory=list)
    events: list[ev.DomainEvent] = field(default_factory=list)
    postings: list[Posting] = field(default_factory=list)

    # ----------------------------------------------------------------- lookups

    def invoice(self, invoice_id: str) -> Invoice:
        for invoice in self.invoices:
            if invoice.invoice_id == invoice_id:
                return invoice
        raise NotYetApplicable(f"no invoice {invoice_id} on {self.enterprise_id}")

    def open_invoices(self) -> list[Invoice]:
        return [invoice for invoice in self.invoices if invoice.is_open]

    def invoiced_sources(self) -> set[str]:
        return {line.source for invoice in self.invoices for line in invoice.lines}

    def receivable_fen(self) -> int:
        return sum(invoice.outstanding_fen for invoice in self.invoices)

    # ----------------------------------------------------------------- units

    def allocate_units(self, units: Iterable[HeldUnit], terms: BillingTerms) -> list[Charge]:
        """Hold the units (a unit already held is left as it is: redelivery) and make
        each purchased unit's schedule. Returns the down payments, which are invoiced
        **at once** (the issue's rule; the caller drafts and issues them now — were it
        not to, the cycle of the allocation month would still bill them)."""
        held = {unit.unit_id for unit in self.units}
        down_payments = []
        for unit in units:
            if unit.unit_id in held:
                continue
            self.units.append(unit)
            if unit.tenure is Tenure.PURCHASE:
                schedule = purchase_schedule(unit.unit_id, unit.price_fen, unit.held_from, terms)
                self.instalments += schedule
                down_payments.append(schedule[0].charge())
        return down_payments

    def release_units(
        self, unit_ids: Iterable[str], released_on: date, at: datetime, new_id: Callable[[], str]
    ) -> None:
        """Recurring charges stop from ``released_on`` (an earlier release stands; the
        same one again does nothing). Rent and property fees are billed in advance, so
        what an issued invoice billed for the days from ``released_on`` is credited."""
        wanted = set(unit_ids)
        for unit in self.units:
            if unit.unit_id in wanted and (
                unit.released_on is None or released_on < unit.released_on
            ):
                unit.released_on = released_on
                self._credit_days_after_release(unit, at, new_id)

    def _credit_days_after_release(
        self, unit: HeldUnit, at: datetime, new_id: Callable[[], str]
    ) -> None:
        released = Month.of(unit.released_on)
        for invoice in self.invoices:
            if invoice.status is InvoiceStatus.DRAFT:
                continue
            amounts = {}
            for index, line in enumerate(invoice.lines):
                kind, _, rest = line.source.partition(":")
                unit_id, _, month_text = rest.rpartition(":")
                if kind not in ("rent", "property_fee") or unit_id != unit.unit_id:
                    continue
                month = Month.parse(month_text)
                if month < released:
                    continue
                kept = (
                    rent_charge(unit, month) if kind == "rent" else property_fee_charge(unit, month)
                )
                excess = release_credit_fen(
                    line.total_fen,
                    kept.total_fen if kept is not None else 0,
                    self._released_on_line(invoice.invoice_id, index, unit.unit_id),
                    line.total_fen - invoice.credited_per_line[index],
                )
                if excess > 0:
                    amounts[index] = excess
            if amounts:
                reason = f"{RELEASE_REASON.format(unit_id=unit.unit_id)}{unit.released_on}"
                self.issue_credit_note(
                    new_id(),
                    invoice.invoice_id,
                    sum(amounts.values()),
                    reason,
                    at,
                    line_amounts=amounts,
                )

    def _released_on_line(self, invoice_id: str, index: int, unit_id: str) -> int:
        prefix = RELEASE_REASON.format(unit_id=unit_id)
        return sum(
            line.total_fen
            for note in self.credit_notes
            if note.invoice_id == invoice_id and note.by is None and note.reason.startswith(prefix)
            for line in note.lines
            if line.line_index == index
        )

    # ----------------------------------------------------------------- charges

    def charges_for(self, month: Month, terms: BillingTerms) -> list[Charge]:
        """Instalments billed up to ``month``; rent and property fees of every month from
        each unit's allocation up to ``month`` (a unit allocated after its month's cycle
        is billed on the next one); pending charges — less whatever is already on an
        invoice."""
        charges = [
            inst.charge()
            for inst in self.instalments
            if not inst.cancelled
            and inst.invoice_id is None
            and Month.parse(inst.bill_month) <= month
        ]
        for unit in self.units:  # a month missed is caught up (CATCH_UP_MONTHS back)
            for billed in billable_months(unit.held_from, month):
                fee = property_fee_charge(unit, billed)
                charges += [c for c in (rent_charge(unit, billed), fee) if c]
        charges += self.pending_charges
        done = self.invoiced_sources()
        return [charge for charge in charges if charge.source not in done]

    def record_service_fee(self, fee: ServiceFee, at: datetime) -> None:
        """A resolved ticket's fee: the charge waits for the next cycle; the firm's
        share is recorded now (``firm_payable_recorded``) and posted to ``firm_payables``
        with the sale, when the charge is invoiced (its line's ``payable_fen``).
        Redelivery (same ticket) has no second effect; a fee of 0 charges nothing."""
        source = fee.charge.source
        if (
            fee.charge.total_fen == 0
            or source in self.invoiced_sources()
            or any(c.source == source for c in self.pending_charges)
        ):
            return
        self.pending_charges.append(fee.charge)
        self.firm_payables_fen[fee.firm_id] = (
            self.firm_payables_fen.get(fee.firm_id, 0) + fee.firm_payable_fen
        )
        self._emit(
            ev.FirmPayableRecorded,
            at,
            ticket_id=fee.ticket_id,
            firm_id=fee.firm_id,
            enterprise_id=self.enterprise_id,
            fee_fen=fee.charge.total_fen,
            commission_rate=fee.commission_rate,
            commission_fen=fee.commission_fen,
            payable_fen=fee.firm_payable_fen,
        )

    def charge_late_fees(self, as_of: date, terms: BillingTerms, at: datetime) -> list[Charge]:
        """The cycle's late-fee charges (one per overdue invoice), ``late_fee_charged``."""
        charges = []
        for invoice in self.open_invoices():
            charged = charge_late_fee(invoice, as_of, terms)
            if charged is None:
                continue
            charge, accrual = charged
            charges.append(charge)
            self.pending_charges.append(charge)
            self._emit(
                ev.LateFeeCharged,
                at,
                invoice_id=invoice.invoice_id,
                number=invoice.number,
                enterprise_id=self.enterprise_id,
                amount_fen=charge.total_fen,
                days=accrual.days,
                through=as_of,
                daily_rate=str(terms.late_fee_daily_rate),
                principal_fen=accrual.principal_fen,
                capped=accrual.capped,
            )
        return charges

    # ----------------------------------------------------------------- invoices

    def draft_invoice(
        self, invoice_id: str, charges: Iterable[Charge], terms: BillingTerms
    ) -> Invoice | None:
        """A draft of the charges not yet invoiced (None if none is left)."""
        done, seen, lines = self.invoiced_sources(), set(), []
        for charge in charges:
            if charge.source in done or charge.source in seen or charge.total_fen <= 0:
                continue
            seen.add(charge.source)
            lines.append(line_for(charge, self._rate(charge, terms)))
        if not lines:
            return None
        invoice = Invoice(
            invoice_id=invoice_id,
            enterprise_id=self.enterprise_id,
            uscc=self.uscc,
            lines=tuple(lines),
        )
        self.invoices.append(invoice)
        for inst in self.instalments:
            if inst.source in seen:
                inst.invoice_id = invoice_id
        self.pending_charges = [c for c in self.pending_charges if c.source not in seen]
        return invoice

    def _rate(self, charge: Charge, terms: BillingTerms):
        if charge.category is not Category.LATE_FEE:
            return rate_for(charge.category, terms.vat_rates)
        overdue = self.invoice(charge.ref_invoice_id)
        return late_fee_rate(
            (line.category, line.total_fen, Decimal(line.vat_rate)) for line in overdue.lines
        )

    def issue_invoice(
        self, invoice_id: str, number: str, issued_on: date, terms: BillingTerms, at: datetime
    ) -> None:
        """Issue a draft: post it, emit ``invoice_issued``, apply the credit balance."""
        invoice = self.invoice(invoice_id)
        if not number.startswith(f"{terms.invoice_prefix}-"):
            raise Refused("invalid_invoice_number", f"{number} is not {terms.invoice_prefix}'s")
        invoice.issue(number, issued_on, terms.payment_due_days)
        acc = Accumulator()
        acc.debit(RECEIVABLES, invoice.total_fen)
        for line in invoice.lines:
            acc.add(sale_entries(line.category, line.total_fen, line.tax_fen, line.payable_fen))
        self.postings.append(acc.posting("invoice_issued", invoice_id, self.enterprise_id, at))
        self._emit(
            ev.InvoiceIssued,
            at,
            invoice_id=invoice_id,
            number=number,
            enterprise_id=self.enterprise_id,
            uscc=self.uscc,
            total_fen=invoice.total_fen,
            tax_fen=invoice.tax_fen,
            issued_on=issued_on,
            due_on=invoice.due_on,
            lines=tuple(
                ev.EventLine(
                    category=line.category.value,
                    description=line.description,
                    quantity=line.quantity,
                    unit_price_fen=line.unit_price_fen,
                    total_fen=line.total_fen,
                    tax_rate=line.vat_rate,
                    tax_fen=line.tax_fen,
                )
                for line in invoice.lines
            ),
        )
        if self.credit_balance_fen:
            used = min(self.credit_balance_fen, invoice.outstanding_fen)
            self.credit_balance_fen -= used
            acc = Accumulator()
            acc.debit(CUSTOMER_CREDIT, used)
            acc.credit(RECEIVABLES, used)
            self.postings.append(acc.posting("credit_applied", invoice_id, self.enterprise_id, at))
            paid = invoice.receive(used)
            self._emit(
                ev.CreditApplied,
                at,
                invoice_id=invoice_id,
                number=number,
                enterprise_id=self.enterprise_id,
                amount_fen=used,
                credit_balance_fen=self.credit_balance_fen,
            )
            if paid:
                self._emit(
                    ev.InvoicePaid,
                    at,
                    invoice_id=invoice_id,
                    number=number,
                    enterprise_id=self.enterprise_id,
                )

    def mark_overdue(self, today: date, at: datetime) -> list[Invoice]:
        """Emit ``invoice_overdue`` once for each invoice newly past its due date."""
        newly = [
            inv
            for inv in self.open_invoices()
            if inv.is_overdue(today) and not inv.overdue_reported
        ]
        for invoice in newly:
            invoice.overdue_reported = True
            self._emit(
                ev.InvoiceOverdue,
                at,
                invoice_id=invoice.invoice_id,
                number=invoice.number,
                enterprise_id=self.enterprise_id,
                due_on=invoice.due_on,
                outstanding_fen=invoice.outstanding_fen,
            )
        return newly

    def issue_credit_note(
        self,
        credit_note_id: str,
        invoice_id: str,
        amount_fen: int,
        reason: str,
        at: datetime,
        by: str | None = None,
        line_amounts: dict[int, int] | None = None,
    ) -> CreditNote:
        """Credit ``amount_fen`` of an issued invoice (≤ what is not yet credited)."""
        if not reason or not reason.strip():
            raise Refused("missing_reason", "a credit note needs a reason")
        invoice = self.invoice(invoice_id)
        lines = credit_lines(invoice, amount_fen, line_amounts)
        note = CreditNote(
            credit_note_id=credit_note_id,
            invoice_id=invoice_id,
            amount_fen=amount_fen,
            tax_fen=sum(line.tax_fen for line in lines),
            reason=reason,
            lines=lines,
            issued_at=at,
            by=by,
        )
        excess, paid = invoice.apply_credit(note)
        self.credit_notes.append(note)
        self.credit_balance_fen += excess
        acc = Accumulator()
        for line in lines:
            acc.add(
                reversed_entries(
                    sale_entries(line.category, line.total_fen, line.tax_fen, line.payable_fen)
                )
            )
        acc.credit(RECEIVABLES, amount_fen - excess)
        acc.credit(CUSTOMER_CREDIT, excess)
        self.postings.append(
            acc.posting("credit_note_issued", credit_note_id, self.enterprise_id, at)
        )
        self._emit(
            ev.CreditNoteIssued,
            at,
            credit_note_id=credit_note_id,
            invoice_id=invoice_id,
            number=invoice.number,
            enterprise_id=self.enterprise_id,
            amount_fen=amount_fen,
            tax_fen=note.tax_fen,
            reason=reason,
            by=by,
            lines=tuple(
                ev.EventCreditLine(
                    line_index=line.line_index,
                    category=line.category.value,
                    total_fen=line.total_fen,
                    tax_rate=line.vat_rate,
                    tax_fen=line.tax_fen,
                )
                for line in lines
            ),
        )
        if paid:
            self._emit(
                ev.InvoicePaid,
                at,
                invoice_id=invoice_id,
                number=invoice.number,
                enterprise_id=self.enterprise_id,
            )
        return note

    def waive_late_fees(
        self, invoice_id: str, by: str, reason: str, at: datetime, new_id: Callable[[], str]
    ) -> None:
        """An operator waives ``invoice_id``'s late fees: no further accrual; fees
        charged for it but not invoiced yet are dropped; each late-fee line already
        invoiced for it is credited (what is left of it). ``credited_fen`` on the event
        counts both."""
        overdue = self.invoice(invoice_id)
        record_waiver(overdue, by, reason, at)
        dropped = [c for c in self.pending_charges if c.ref_invoice_id == invoice_id]
        self.pending_charges = [c for c in self.pending_charges if c.ref_invoice_id != invoice_id]
        credited = sum(c.total_fen for c in dropped)
        overdue.late_fee_charged_fen -= credited
        for invoice in list(self.invoices):
            if invoice.status is InvoiceStatus.DRAFT:
                continue
            amounts = {
                index: line.total_fen - invoice.credited_per_line[index]
                for index, line in enumerate(invoice.lines)
                if line.ref_invoice_id == invoice_id
                and line.total_fen > invoice.credited_per_line[index]
            }
            if amounts:
                total = sum(amounts.values())
                self.issue_credit_note(
                    new_id(),
                    invoice.invoice_id,
                    total,
                    f"late fee waived: {reason}",
                    at,
                    by=by,
                    line_amounts=amounts,
                )
                credited += total
        self._emit(
            ev.LateFeeWaived,
            at,
            invoice_id=invoice_id,
            number=overdue.number,
            enterprise_id=self.enterprise_id,
            by=by,
            reason=reason,
            credited_fen=credited,
        )

    # ----------------------------------------------------------------- payments

    def apply_payment(self, payment: Payment, at: datetime, from_suspense: bool = False) -> None:
        """Apply a payment exactly once (see :mod:`.payments`)."""
        for seen in self.payments:
            if seen.bank_txn_id == payment.bank_txn_id:
                if seen == payment:
                    return
                raise Refused(
                    "conflicting_duplicate", f"{payment.bank_txn_id} came with other content"
                )
        if not from_suspense and payment.payer_uscc != self.uscc:
            raise Refused("wrong_payer", f"{payment.payer_uscc} is not {self.uscc}")
        self.payments.append(payment)
        plan, remainder = allocate(payment.amount_fen, self.open_invoices(), payment.reference)
        acc = Accumulator()
        acc.debit(SUSPENSE if from_suspense else CASH, payment.amount_fen)
        for invoice, amount in plan:
            paid = invoice.receive(amount)
            acc.credit(RECEIVABLES, amount)
            self._emit(
                ev.PaymentApplied,
                at,
                bank_txn_id=payment.bank_txn_id,
                invoice_id=invoice.invoice_id,
                number=invoice.number,
                enterprise_id=self.enterprise_id,
                amount_fen=amount,
                outstanding_fen=invoice.outstanding_fen,
            )
            if paid:
                self._emit(
                    ev.InvoicePaid,
                    at,
                    invoice_id=invoice.invoice_id,
                    number=invoice.number,
                    enterprise_id=self.enterprise_id,
                )
        if remainder:
            acc.credit(CUSTOMER_CREDIT, remainder)
            self.credit_balance_fen += remainder
            self._emit(
                ev.PaymentCredited,
                at,
                bank_txn_id=payment.bank_txn_id,
                enterprise_id=self.enterprise_id,
                amount_fen=remainder,
                credit_balance_fen=self.credit_balance_fen,
            )
        self.postings.append(
            acc.posting("payment_applied", payment.bank_txn_id, self.enterprise_id, at)
        )

    # ----------------------------------------------------------------- buyback

    def compute_buyback_settlement(
        self,
        claim_id: str,
        unit_ids: Iterable[str],
        gross_fen: int,
        as_of: date,
        terms: BillingTerms,
        at: datetime,
    ) -> Settlement:
        """``settlement_requested``: the offsets and net as of ``as_of`` — the claimed
        units' rent and property fees accrued before it and not invoiced included (the
        service adds their meters' unbilled consumption, which it alone knows)."""
        claimed = set(unit_ids)
        invoiced = self.invoiced_sources()
        settlement = compute_settlement(
            claim_id=claim_id,
            enterprise_id=self.enterprise_id,
            gross_fen=gross_fen,
            unit_ids=claimed,
            instalments=self.instalments,
            invoices=self.invoices,
            pending_charges=self.pending_charges,
            accrued_charges=[
                charge
                for unit in self.units
                if unit.unit_id in claimed
                for charge in recurring_charges_until(unit, as_of)
                if charge.source not in invoiced
            ],
            claimed_units=[unit for unit in self.units if unit.unit_id in claimed],
            as_of=as_of,
            terms=terms,
        )
        self._emit(
            ev.BuybackSettlementComputed,
            at,
            claim_id=claim_id,
            enterprise_id=self.enterprise_id,
            gross_fen=gross_fen,
            net_fen=settlement.net_fen,
            offsets=tuple(
                ev.OffsetLine(kind=o.kind, invoice_id=o.invoice_id, amount_fen=o.amount_fen)
                for o in settlement.offsets
            ),
        )
        return settlement

    def settle_buyback(
        self,
        claim_id: str,
        unit_ids: Iterable[str],
        gross_fen: int,
        settled_on: date,
        at: datetime,
        new_id: Callable[[], str],
    ) -> Settlement:
        """``claim_settled``: release the units from ``settled_on``, cancel their
        instalments not invoiced and credit-note those invoiced and open, then net the
        other open invoices (oldest due first) against what the park pays for the units.
        Accrued late fees must be charged and issued first (the service does it with
        :meth:`charge_late_fees` and an invoice): only invoices are netted here."""
        if any(s.claim_id == claim_id for s in self.settlements):
            return next(s for s in self.settlements if s.claim_id == claim_id)
        units = set(unit_ids)
        self.release_units(units, settled_on, at, new_id)
        # after the release: its credits may lower what a partly paid invoice still owes
        scheduled, invoiced, cancelled = self._purchase_balance(units)
        if cancelled > gross_fen:
            # the price paid back does not cover the purchase balance cancelled: what it
            # does not cover stays owed — a purchase charge the service invoices at once
            # (a negative net is never a negative payout)
            self.pending_charges.append(
                Charge(
                    category=Category.PURCHASE,
                    description=f"purchase balance not covered by buyback {claim_id}",
                    quantity="1",
                    unit_price_fen=cancelled - gross_fen,
                    total_fen=cancelled - gross_fen,
                    source=f"buyback_shortfall:{claim_id}",
                )
            )
        repurchase = max(0, gross_fen - cancelled)
        for inst in scheduled:
            inst.cancelled = True
        reason = f"buyback {claim_id}: purchase balance cancelled"
        for invoice, owed in invoiced:
            if owed:
                self.issue_credit_note(
                    new_id(), invoice.invoice_id, sum(owed.values()), reason, at, line_amounts=owed
                )
        offsets = [Offset(kind=PURCHASE_BALANCE, invoice_id=None, amount_fen=cancelled)]
        left = self._net_open_invoices(repurchase, claim_id, offsets, at)
        settlement = Settlement(
            claim_id=claim_id,
            enterprise_id=self.enterprise_id,
            gross_fen=gross_fen,
            offsets=tuple(o for o in offsets if o.amount_fen),
            net_fen=gross_fen - sum(o.amount_fen for o in offsets),
        )
        self.settlements.append(settlement)
        self._emit(
            ev.BuybackNetted,
            at,
            claim_id=claim_id,
            enterprise_id=self.enterprise_id,
            gross_fen=gross_fen,
            net_fen=settlement.net_fen,
            payout_fen=left,
            still_owed_fen=max(0, -settlement.net_fen),
            settled_on=settled_on,
        )
        return settlement

    def _purchase_balance(
        self, units: set[str]
    ) -> tuple[list[Instalment], list[tuple[Invoice, dict[int, int]]], int]:
        """The units' instalments not invoiced, the open parts of their invoiced ones
        (per invoice, line index → fen), and the sum of both."""
        scheduled = [
            inst
            for inst in self.instalments
            if inst.unit_id in units and inst.invoice_id is None and not inst.cancelled
        ]
        sources = {i.source for i in self.instalments if i.unit_id in units and i.invoice_id}
        invoiced = [(inv, purchase_lines_owed(inv, sources)) for inv in self.open_invoices()]
        total = sum(i.amount_fen for i in scheduled) + sum(
            sum(owed.values()) for _inv, owed in invoiced
        )
        return scheduled, invoiced, total

    def _net_open_invoices(
        self, repurchase: int, claim_id: str, offsets: list[Offset], at: datetime
    ) -> int:
        """Net the open invoices (oldest due first) against ``repurchase``: append each as
        an offset, post the settlement, return what is left to pay out."""
        left, acc = repurchase, Accumulator()
        for invoice in sorted(self.open_invoices(), key=lambda inv: (inv.due_on, inv.number)):
            owed = invoice.outstanding_fen
            offsets.append(Offset(kind=INVOICE, invoice_id=invoice.invoice_id, amount_fen=owed))
            take = min(left, owed)
            if take == 0:
                continue
            left -= take
            acc.credit(RECEIVABLES, take)
            if invoice.receive(take):
                self._emit(
                    ev.InvoicePaid,
                    at,
                    invoice_id=invoice.invoice_id,
                    number=invoice.number,
                    enterprise_id=self.enterprise_id,
                )
        acc.debit(UNITS_REPURCHASED, repurchase)
        acc.credit(BUYBACK_PAYABLE, left)
        self.postings.append(acc.posting("buyback_settled", claim_id, self.enterprise_id, at))
        return left

    # ----------------------------------------------------------------- events

    def _emit(self, event_class: type[ev.DomainEvent], at: datetime, **fields: object) -> None:
        self.events.append(event_class(occurred_at=at, park_id=self.park_id, **fields))
