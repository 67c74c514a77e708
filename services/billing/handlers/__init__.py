"""Billing's use cases: plain functions taking what arrived and a unit of work.

Each use case is one transaction (``with uow:`` … ``uow.commit()``), except the billing
cycle, which is one transaction *per account* (one failing account is logged, counted and
skipped). Money rules come from the domain (``services/billing/domain/``); these modules
load what a rule needs from the unit of work, apply it, store the result and emit its
events. One module per idea:

- :mod:`.holdings` — accounts, units allocated and released;
- :mod:`.meters` — meter readings;
- :mod:`.paid_services` — resolved tickets with a fee;
- :mod:`.payments` — bank payments, suspense, an operator's match;
- :mod:`.credits` — credit notes and late-fee waivers;
- :mod:`.late_fees` — late fees accrued and billed;
- :mod:`.cycle` — the monthly billing cycle;
- :mod:`.buyback` — buyback netting and settlement;
- :mod:`.queries` — statements, aging, revenue, the trial balance;
- :mod:`.common` — what they share (lines, postings, issuing an invoice).
"""

from services.billing.handlers.buyback import compute_offsets, compute_settlement, settle_claim
from services.billing.handlers.common import (
    PaymentConflict,
    issue_invoice,
    outstanding,
    park_date,
    post,
)
from services.billing.handlers.credits import issue_credit_note, waive_late_fee
from services.billing.handlers.cycle import CycleResult, bill_account, run_billing_cycle
from services.billing.handlers.holdings import admit_enterprise, allocate_units, release_units
from services.billing.handlers.late_fees import accrue
from services.billing.handlers.meters import rebaseline_meter, record_meter_reading
from services.billing.handlers.paid_services import charge_resolved_ticket
from services.billing.handlers.payments import apply_payment, match_payment, receive_payment
from services.billing.handlers.queries import (
    account_statement,
    aging_report,
    check_month,
    invoice_status,
    open_invoices,
    revenue,
    statement_document,
    trial_balance,
)

__all__ = [
    "CycleResult",
    "PaymentConflict",
    "account_statement",
    "accrue",
    "admit_enterprise",
    "aging_report",
    "allocate_units",
    "apply_payment",
    "bill_account",
    "charge_resolved_ticket",
    "check_month",
    "compute_offsets",
    "compute_settlement",
    "invoice_status",
    "issue_credit_note",
    "issue_invoice",
    "match_payment",
    "open_invoices",
    "outstanding",
    "park_date",
    "post",
    "rebaseline_meter",
    "receive_payment",
    "record_meter_reading",
    "release_units",
    "revenue",
    "run_billing_cycle",
    "settle_claim",
    "statement_document",
    "trial_balance",
    "waive_late_fee",
]
