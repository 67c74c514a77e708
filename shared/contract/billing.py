"""Events the billing service publishes on ``billing.events`` (DESIGN §5, issue 10).

**Ids.** Every event about an invoice carries ``invoice_id``, its ``number`` and
``enterprise_id``; about a payment, ``bank_txn_id``; about a buyback claim, ``claim_id``
and ``enterprise_id`` — a subscriber never has to look anything up.

**Money.** Every amount is integer fen (:class:`Fen`, never ``12.5`` nor ``"12"``);
rates are decimal strings (``"0.09"``). Amounts are tax-inclusive: a line's ``tax_fen``
is split out of its ``total_fen`` as ``total × rate / (1 + rate)`` rounded half up to the
fen, and a document's ``tax_fen`` and ``total_fen`` are the sums of its lines' — a
payload whose sums disagree is malformed. The one signed amount is a buyback's
``net_fen`` (negative: the enterprise still owes the difference) and a credit balance's
``change_fen``.
"""

import re
from decimal import Decimal

from marshmallow import ValidationError, fields, validate, validates_schema

from shared.contract.fields import (
    DecimalString,
    Fen,
    IsoDate,
    StrictBoolean,
    StrictInteger,
    StrictList,
    Text,
    UtcDateTime,
    Uuid,
)
from shared.contract.registry import PayloadSchema, event
from shared.contract.ticketing import FreeText
from shared.money import round_fen

#: What a charge is for; each category has its own VAT rate in the park file
#: (``billing.vat_rates``, services/billing/domain/park_policy.py).
CATEGORIES = (
    "purchase",  # sale of real estate: the down payment and the instalments of a unit
    "rent",  # lease of real estate
    "property_fee",  # property management
    "water",
    "electricity",
    "service",  # paid services of the park's firms: legal, accounting, consulting …
    "late_fee",  # 违约金 on an overdue invoice
)
#: What a buyback offset is: the claimed units' purchase balance (instalments not yet
#: invoiced, ``invoice_id`` null, or an open instalment invoice), any other open invoice
#: (what it still owes), a late fee accrued and not yet invoiced (on its invoice), charges
#: recorded and not yet invoiced (a paid service …, in one sum, ``invoice_id`` null).
OFFSET_KINDS = (
    "purchase_balance",
    "invoice",
    "late_fee",
    "uninvoiced_charge",
    "accrued_charge",  # rent and property fees accrued to the settlement, not invoiced
    "unbilled_consumption",  # meter consumption since it was last billed
)
#: An invoice number: the park's prefix, the park-local year, a gapless 6-digit sequence.
INVOICE_NUMBER = re.compile(r"[A-Z][A-Z0-9]{0,11}-[0-9]{4}-[0-9]{6}")
METER_KINDS = ("water", "electricity")


def vat_of(total_fen: int, rate: Decimal) -> int:
    """The VAT inside a tax-inclusive ``total_fen`` at ``rate``: ``total × rate / (1 + rate)``,
    rounded half up to the fen (the rule every line follows)."""
    return round_fen(Decimal(total_fen) * rate / (Decimal(1) + rate))


class _VatRate(DecimalString):
    """A VAT rate as a decimal string in [0, 1): ``"0.09"``."""

    def __init__(self, **kwargs):
        super().__init__(minimum=Decimal(0), **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        rate = super()._deserialize(value, attr, data, **kwargs)
        if rate >= 1:
            raise ValidationError("Must be less than 1.")
        return rate


def _invoice_number(**kwargs) -> Text:
    return Text(
        validate=validate.Regexp(
            f"^{INVOICE_NUMBER.pattern}$", error="Not an invoice number like AUX-2026-000123."
        ),
        **kwargs,
    )


class LineSchema(PayloadSchema):
    """One charge of an invoice or credit note, tax-inclusive, with its VAT split out.

    ``quantity`` × ``unit_price_fen`` is what the line is for (m² × days held / days in
    the month, kWh, instalments); ``total_fen`` is that rounded, and may differ from the
    plain product by the proration's rounding: only the tax split is checked here."""

    category = Text(required=True, validate=validate.OneOf(CATEGORIES))
    description = Text(required=True, max_length=500)
    quantity = DecimalString(required=True, minimum=Decimal(0))
    unit_price_fen = Fen(required=True)
    total_fen = Fen(required=True)
    tax_rate = _VatRate(required=True)
    tax_fen = Fen(required=True)

    @validates_schema
    def tax_is_split_from_the_total(self, data, **kwargs):
        if not {"total_fen", "tax_rate", "tax_fen"} <= data.keys():
            return  # a field's own error says what is missing
        expected = vat_of(data["total_fen"], data["tax_rate"])
        if data["tax_fen"] != expected:
            raise ValidationError(
                f"tax_fen {data['tax_fen']} is not total_fen × tax_rate / (1 + tax_rate) "
                f"rounded half up: {expected}",
                "tax_fen",
            )


def _check_sums(data: dict) -> None:
    """A document's ``total_fen`` and ``tax_fen`` are the sums of its lines'."""
    lines = data.get("lines")
    if not lines or "total_fen" not in data or "tax_fen" not in data:
        return
    total = sum(line["total_fen"] for line in lines)
    tax = sum(line["tax_fen"] for line in lines)
    errors = {}
    if data["total_fen"] != total:
        errors["total_fen"] = [f"{data['total_fen']} is not the sum of the lines' totals: {total}"]
    if data["tax_fen"] != tax:
        errors["tax_fen"] = [f"{data['tax_fen']} is not the sum of the lines' tax: {tax}"]
    if errors:
        raise ValidationError(errors)


class InvoicePayload(PayloadSchema):
    """What every invoice event carries: the invoice, its number, its enterprise."""

    invoice_id = Uuid(required=True)
    number = _invoice_number(required=True)
    enterprise_id = Text(required=True)


@event("billing", "invoice_issued")
class InvoiceIssued(InvoicePayload):
    """An invoice was issued (numbered, never edited again): its lines, tax-inclusive total,
    VAT and due date."""

    uscc = Text(required=True, max_length=18)
    issued_on = IsoDate(required=True)
    due_on = IsoDate(required=True)
    total_fen = Fen(required=True, minimum=1)
    tax_fen = Fen(required=True)
    lines = StrictList(fields.Nested(LineSchema), required=True, min_length=1)

    @validates_schema
    def sums(self, data, **kwargs):
        _check_sums(data)
        if {"issued_on", "due_on"} <= data.keys() and data["due_on"] < data["issued_on"]:
            raise ValidationError("due_on comes before issued_on", "due_on")


@event("billing", "payment_applied")
class PaymentApplied(InvoicePayload):
    """``amount_fen`` of the bank payment ``bank_txn_id`` went to the invoice."""

    bank_txn_id = Text(required=True)
    amount_fen = Fen(required=True, minimum=1)
    outstanding_fen = Fen(load_default=None, allow_none=True)


@event("billing", "payment_credited")
class PaymentCredited(PayloadSchema):
    """What the bank payment ``bank_txn_id`` left after every open invoice (an
    overpayment, ``amount_fen``) went to the enterprise's credit balance, now
    ``credit_balance_fen``."""

    bank_txn_id = Text(required=True)
    enterprise_id = Text(required=True)
    amount_fen = Fen(required=True, minimum=1)
    credit_balance_fen = Fen(required=True)


@event("billing", "credit_applied")
class CreditApplied(InvoicePayload):
    """The enterprise's credit balance paid ``amount_fen`` of a newly issued invoice;
    ``credit_balance_fen`` is left."""

    amount_fen = Fen(required=True, minimum=1)
    credit_balance_fen = Fen(required=True)


@event("billing", "invoice_paid")
class InvoicePaid(InvoicePayload):
    """The invoice is paid in full."""

    paid_on = IsoDate(load_default=None, allow_none=True)


@event("billing", "invoice_overdue")
class InvoiceOverdue(InvoicePayload):
    """The invoice's due date passed with ``outstanding_fen`` unpaid: late fees accrue."""

    due_on = IsoDate(required=True)
    outstanding_fen = Fen(required=True, minimum=1)


@event("billing", "late_fee_charged")
class LateFeeCharged(InvoicePayload):
    """A late fee (违约金) accrued on the overdue invoice ``invoice_id`` for ``days`` days up
    to ``through`` at ``daily_rate`` on the overdue principal, rounded once:
    ``amount_fen``; the cycle that accrues it bills it (a late-fee invoice). Optional:
    ``principal_fen`` (the overdue principal) and ``capped`` (the park's cap cut it)."""

    amount_fen = Fen(required=True, minimum=1)
    days = StrictInteger(required=True, minimum=1)
    through = IsoDate(required=True)
    daily_rate = DecimalString(required=True, minimum=Decimal(0), maximum=Decimal(1))
    principal_fen = Fen(load_default=None, allow_none=True, minimum=1)
    capped = StrictBoolean(load_default=False)


@event("billing", "late_fee_waived")
class LateFeeWaived(InvoicePayload):
    """An operator (``by``) waived the invoice's late fees with a ``reason`` (audited):
    no more accrue, and ``credited_fen`` already charged is credited back."""

    by = Text(required=True)
    reason = Text(required=True, max_length=500)
    credited_fen = Fen(required=True)


class CreditLineSchema(PayloadSchema):
    """What a credit note takes off one line of its invoice (``line_index``, 0-based).

    Its tax is split from its total like any line's, except when it exhausts the invoice
    line: then it carries exactly that line's remaining tax (no rounding residue is left
    in VAT payable), so the schema checks only that the tax is within the total."""

    line_index = StrictInteger(required=True, minimum=0)
    category = Text(required=True, validate=validate.OneOf(CATEGORIES))
    total_fen = Fen(required=True, minimum=1)
    tax_rate = _VatRate(required=True)
    tax_fen = Fen(required=True)

    @validates_schema
    def tax_within_total(self, data, **kwargs):
        if {"total_fen", "tax_fen"} <= data.keys() and data["tax_fen"] > data["total_fen"]:
            raise ValidationError("tax_fen exceeds total_fen", "tax_fen")


@event("billing", "credit_note_issued")
class CreditNoteIssued(InvoicePayload):
    """A credit note (红字) corrects the issued invoice ``invoice_id`` (``number``):
    ``amount_fen`` tax-inclusive, ``tax_fen`` of VAT, per line, with a ``reason``; ``by``
    is the operator (null: the system, e.g. a buyback cancelling an instalment)."""

    credit_note_id = Uuid(required=True)
    amount_fen = Fen(required=True, minimum=1)
    tax_fen = Fen(required=True)
    reason = Text(required=True)
    by = Text(load_default=None, allow_none=True)
    lines = StrictList(fields.Nested(CreditLineSchema), required=True, min_length=1)

    @validates_schema
    def sums(self, data, **kwargs):
        lines = data.get("lines")
        if not lines or "amount_fen" not in data or "tax_fen" not in data:
            return
        _check_sums({"total_fen": data["amount_fen"], "tax_fen": data["tax_fen"], "lines": lines})


@event("billing", "payment_unmatched")
class PaymentUnmatched(PayloadSchema):
    """A payment went to suspense: ``why`` (``unknown_payer``: no account has its USCC) until
    an operator matches it (``payment_matched``)."""

    bank_txn_id = Text(required=True)
    payer_uscc = Text(required=True)
    amount_fen = Fen(required=True, minimum=1)
    why = Text(required=True, max_length=200)
    reference = FreeText(load_default="", max_length=200)


@event("billing", "payment_matched")
class PaymentMatched(PayloadSchema):
    """An operator (``matched_by``) matched a payment in suspense to an enterprise; it is
    then applied like any payment (``payment_applied``)."""

    bank_txn_id = Text(required=True)
    enterprise_id = Text(required=True)
    amount_fen = Fen(required=True, minimum=1)
    matched_by = Text(required=True)
    note = Text(load_default=None, allow_none=True)


@event("billing", "credit_balance_changed")
class CreditBalanceChanged(PayloadSchema):
    """The enterprise's credit balance moved by ``change_fen`` (an overpayment adds, an
    invoice it pays subtracts) to ``balance_fen``; ``why`` says what moved it."""

    enterprise_id = Text(required=True)
    change_fen = StrictInteger(required=True)
    balance_fen = Fen(required=True)
    why = Text(required=True, max_length=200)
    bank_txn_id = Text(load_default=None, allow_none=True)
    invoice_id = Uuid(load_default=None, allow_none=True)
    number = _invoice_number(load_default=None, allow_none=True)

    @validates_schema
    def it_moved(self, data, **kwargs):
        if data.get("change_fen") == 0:
            raise ValidationError("a change of 0 is no change", "change_fen")


@event("billing", "firm_payable_recorded")
class FirmPayableRecorded(PayloadSchema):
    """The park owes the firm ``payable_fen`` for the ticket's fee: ``fee_fen`` less the
    park's commission (``commission_rate``, ``commission_fen``); ``request_id`` is the
    service request that opened the ticket."""

    ticket_id = Text(required=True)
    firm_id = Text(required=True)
    enterprise_id = Text(required=True)
    fee_fen = Fen(required=True, minimum=1)
    commission_rate = _VatRate(required=True)
    commission_fen = Fen(required=True)
    payable_fen = Fen(required=True)
    invoice_id = Uuid(load_default=None, allow_none=True)
    request_id = Text(load_default=None, allow_none=True)

    @validates_schema
    def fee_is_commission_plus_payable(self, data, **kwargs):
        if not {"fee_fen", "commission_rate", "commission_fen", "payable_fen"} <= data.keys():
            return
        expected = round_fen(Decimal(data["fee_fen"]) * data["commission_rate"])
        if data["commission_fen"] != expected:
            raise ValidationError(
                f"commission_fen is fee_fen × commission_rate rounded half up: {expected}",
                "commission_fen",
            )
        if data["commission_fen"] + data["payable_fen"] != data["fee_fen"]:
            raise ValidationError("payable_fen is fee_fen − commission_fen", "payable_fen")


@event("billing", "firm_payable_adjusted")
class FirmPayableAdjusted(PayloadSchema):
    """What the park owes a firm changed by ``change_fen`` (negative: less is owed): a
    credit note on the paid service's invoice line (``invoice_id``, ``number``,
    ``credit_note_id``) reversed that share of the firm's payable with the sale."""

    ticket_id = Text(load_default=None, allow_none=True)
    firm_id = Text(load_default=None, allow_none=True)
    enterprise_id = Text(required=True)
    invoice_id = Uuid(required=True)
    number = _invoice_number(required=True)
    credit_note_id = Uuid(required=True)
    change_fen = StrictInteger(required=True)
    reason = Text(required=True)

    @validates_schema
    def it_moved(self, data, **kwargs):
        if data.get("change_fen") == 0:
            raise ValidationError("a change of 0 is no change", "change_fen")


class OffsetSchema(PayloadSchema):
    """One debt netted from a buyback: its ``kind``, the invoice it is on (null for the
    purchase balance not yet invoiced) and its amount."""

    kind = Text(required=True, validate=validate.OneOf(OFFSET_KINDS))
    invoice_id = Uuid(required=True, allow_none=True)
    amount_fen = Fen(required=True, minimum=1)


@event("billing", "buyback_settlement_computed")
class BuybackSettlementComputed(PayloadSchema):
    """What the park pays for a buyback: ``gross_fen`` less every unpaid amount
    (``offsets``) is ``net_fen``; a negative net is what the enterprise still owes."""

    claim_id = Uuid(required=True)
    enterprise_id = Text(required=True)
    gross_fen = Fen(required=True)
    offsets = StrictList(fields.Nested(OffsetSchema), required=True)
    net_fen = StrictInteger(required=True)

    @validates_schema
    def net_is_gross_less_offsets(self, data, **kwargs):
        if not {"gross_fen", "offsets", "net_fen"} <= data.keys():
            return
        expected = data["gross_fen"] - sum(offset["amount_fen"] for offset in data["offsets"])
        if data["net_fen"] != expected:
            raise ValidationError(f"net_fen is gross_fen − the offsets: {expected}", "net_fen")


@event("billing", "buyback_netted")
class BuybackNetted(PayloadSchema):
    """After ``claim_settled``: the offsets were taken off the account; the park pays
    ``payout_fen`` (the net, if positive) and the enterprise still owes
    ``still_owed_fen`` (minus the net, if negative); charges stop from ``settled_on``."""

    claim_id = Uuid(required=True)
    enterprise_id = Text(required=True)
    gross_fen = Fen(required=True)
    net_fen = StrictInteger(required=True)
    payout_fen = Fen(required=True)
    still_owed_fen = Fen(required=True)
    settled_on = IsoDate(required=True)

    @validates_schema
    def payout_or_debt(self, data, **kwargs):
        if not {"net_fen", "payout_fen", "still_owed_fen"} <= data.keys():
            return
        net = data["net_fen"]
        if (data["payout_fen"], data["still_owed_fen"]) != (max(net, 0), max(-net, 0)):
            raise ValidationError(
                "payout_fen is the net if positive, still_owed_fen minus the net if negative",
                "net_fen",
            )


@event("billing", "meter_rebaselined")
class MeterRebaselined(PayloadSchema):
    """An operator (``by``, with a ``reason``) rebaselined a meter (e.g. a replaced one):
    it bills from ``reading`` on, read at ``read_at``; ``billed_fen`` is what the old
    reading's unbilled consumption was invoiced for first (0 if nothing)."""

    meter_id = Text(required=True)
    unit_id = Text(required=True)
    kind = Text(required=True, validate=validate.OneOf(METER_KINDS))
    previous_reading = DecimalString(load_default=None, allow_none=True, minimum=Decimal(0))
    reading = DecimalString(required=True, minimum=Decimal(0))
    read_at = UtcDateTime(required=True)
    billed_fen = Fen(required=True)
    by = Text(required=True)
    reason = Text(required=True, max_length=500)


@event("billing", "reading_anomaly")
class ReadingAnomaly(PayloadSchema):
    """A meter reading billing did not charge, flagged for a person: ``why`` is
    ``decrease`` (lower than the previous reading: a replaced or faulty meter — never
    billed negative) or ``conflict`` (another value for a ``read_at`` already recorded:
    the first is kept). Optional: the meter's ``kind`` and the reading it was compared
    with (``previous_reading``, ``previous_read_at``)."""

    meter_id = Text(required=True)
    unit_id = Text(required=True)
    reading = DecimalString(required=True, minimum=Decimal(0))
    read_at = UtcDateTime(required=True)
    why = Text(required=True, max_length=200)
    kind = Text(load_default=None, allow_none=True, validate=validate.OneOf(METER_KINDS))
    previous_reading = DecimalString(load_default=None, allow_none=True, minimum=Decimal(0))
    previous_read_at = UtcDateTime(load_default=None, allow_none=True)
