"""The monthly statement document: every amount on it, its totals, its escaping."""

import re
from datetime import UTC, date, datetime
from html.parser import HTMLParser

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.billing.statement import (
    ChargeLine,
    Statement,
    StatementCreditNote,
    StatementInvoice,
    StatementLateFee,
    StatementPayment,
    render_statement,
)
from services.billing.statement.render import balance, rate_percent

HOSTILE = '<script>alert("x")</script>&<b>'


class Roles(HTMLParser):
    """Collects the text of every element carrying ``data-role``, by role, in order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: dict[str, list[str]] = {}
        self.stack: list[tuple[str, str | None]] = []
        self.texts: list[list[str]] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        role = dict(attrs).get("data-role")
        self.stack.append((tag, role))
        if role:
            self.texts.append([])

    def handle_endtag(self, tag):
        while self.stack:
            opened, role = self.stack.pop()
            if role:
                text = "".join(self.texts.pop())
                self.found.setdefault(role, []).append(text)
                if self.texts:
                    self.texts[-1].append(text)
            if opened == tag:
                return

    def handle_data(self, data):
        if self.texts:
            self.texts[-1].append(data)
        if self.stack and self.stack[-1][0] in ("script", "b"):
            self.tags.append(self.stack[-1][0])

    def handle_startendtag(self, tag, attrs):
        pass


def roles(document: str) -> dict[str, list[str]]:
    parser = Roles()
    parser.feed(document)
    parser.close()
    return parser.found


AMOUNT = re.compile(r"^(-?)¥(\d{1,3}(?:,\d{3})*)\.(\d{2})( CR)?$")


def fen(text: str) -> int:
    """Read back an amount as the document shows it; refuses any other shape."""
    match = AMOUNT.match(text.strip())
    assert match, f"not a well-formed amount: {text!r}"
    sign, whole, cents, credit = match.groups()
    assert not (sign and credit), text
    value = int(whole.replace(",", "")) * 100 + int(cents)
    return -value if sign or credit else value


def amounts(found: dict[str, list[str]], role: str) -> list[int]:
    return [fen(text) for text in found.get(role, [])]


def demo_statement(**changes) -> Statement:
    values = dict(
        park_name="上街产业园 Aux Shangjie Park",
        park_header=("郑州市上街区 1 号", "Tel 0371-0000000"),
        enterprise_id="ent-1",
        enterprise_name="郑州精工机械有限公司",
        uscc="91410100MA12345678",
        period_start=date(2026, 10, 1),
        period_end=date(2026, 10, 31),
        opening_balance_fen=10_000,
        invoices=(
            StatementInvoice(
                number="AUX-2026-000123",
                issued_on=date(2026, 10, 1),
                due_on=date(2026, 10, 31),
                lines=(
                    # 300 m² × 150 fen, 6 %: tax = 45,000 × 0.06 / 1.06 = 2,547.17 → 2,547
                    ChargeLine("property_fee", "物业费 2026-10, 300 m²", 45_000, 2_547, "0.06"),
                    # 1,200 kWh × 95 fen, 13 %: tax = 114,000 × 0.13 / 1.13 = 13,115.04 → 13,115
                    ChargeLine("electricity", "电表 M-1: 1,200 kWh", 114_000, 13_115, "0.13"),
                ),
            ),
        ),
        credit_notes=(
            StatementCreditNote(
                "AUX-2026-CN-000004", date(2026, 10, 9), "AUX-2026-000123", "重复计费", 5_000, 283
            ),
        ),
        payments=(StatementPayment("TXN-1", date(2026, 10, 20), 100_000, "AUX-2026-000123"),),
        late_fees=(
            StatementLateFee("AUX-2026-000101", date(2026, 10, 1), "45,000 × 0.05 % × 60", 1_350),
        ),
        generated_at=datetime(2026, 11, 1, 2, 0, tzinfo=UTC),
    )
    values.update(changes)
    return Statement(**values)


def test_the_worked_example_shows_every_amount_in_yuan_with_two_decimals():
    found = roles(render_statement(demo_statement()))

    assert found["line-total"] == ["¥450.00", "¥1,140.00"]
    assert found["line-tax"] == ["¥25.47", "¥131.15"]
    assert found["invoice-total"] == ["¥1,590.00"]
    assert found["invoice-tax"] == ["¥156.62"]
    assert found["opening-balance"] == ["¥100.00"]
    assert found["late-fee-amount"] == ["¥13.50"]
    assert found["credit-note-amount"] == ["-¥50.00"]
    assert found["payment-amount"] == ["-¥1,000.00"]
    # 10,000 + 159,000 + 1,350 − 5,000 − 100,000 = 65,350
    assert found["closing-balance"] == ["¥653.50"]
    assert found["enterprise-name"] == ["郑州精工机械有限公司"]
    assert found["uscc"] == ["91410100MA12345678"]
    assert found["park-header"] == ["郑州市上街区 1 号", "Tel 0371-0000000"]
    assert found["period"] == ["2026-10-01 – 2026-10-31"]


def test_the_tax_split_groups_lines_by_rate_and_takes_off_the_credit_notes():
    found = roles(render_statement(demo_statement()))

    assert amounts(found, "tax-row-total") == [45_000, 114_000, -5_000]
    assert amounts(found, "tax-row-tax") == [2_547, 13_115, -283]
    assert amounts(found, "tax-row-net") == [42_453, 100_885, -4_717]
    assert amounts(found, "tax-total-total") == [154_000]
    assert amounts(found, "tax-total-tax") == [15_379]
    assert amounts(found, "tax-total-net") == [138_621]


def test_a_negative_closing_balance_is_shown_as_a_credit():
    statement = demo_statement(
        opening_balance_fen=-2_000,
        payments=(StatementPayment("TXN-9", date(2026, 10, 3), 300_000),),
    )
    document = render_statement(statement)
    found = roles(document)

    # −2,000 + 159,000 + 1,350 − 5,000 − 300,000 = −146,650
    assert statement.closing_balance_fen == -146_650
    assert found["closing-balance"] == ["¥1,466.50 CR"]
    assert found["opening-balance"] == ["¥20.00 CR"]
    assert "Credit balance" in document and "Balance due" not in document
    assert "预收 credit balance" in document  # the payment applied to no invoice


def test_a_zero_or_positive_balance_is_a_balance_due():
    assert balance(0) == "¥0.00"
    assert balance(1) == "¥0.01"
    assert balance(-1) == "¥0.01 CR"
    assert balance(123_456_789) == "¥1,234,567.89"
    document = render_statement(demo_statement())
    assert "Balance due" in document and "Credit balance (used" not in document


@pytest.mark.parametrize(
    ("rate", "shown"),
    [
        ("0.09", "9%"),
        ("0.13", "13%"),
        ("0.06", "6%"),
        ("0.055", "5.5%"),
        ("0", "0%"),
        (None, "—"),
        ("abc", "abc"),
    ],
)
def test_rates_are_shown_as_percentages(rate, shown):
    assert rate_percent(rate) == shown


def test_a_period_without_invoices_or_payments_still_renders():
    found = roles(
        render_statement(demo_statement(invoices=(), credit_notes=(), payments=(), late_fees=()))
    )
    assert found["no-invoices"] and found["no-payments"]
    assert found["closing-balance"] == ["¥100.00"]
    assert amounts(found, "tax-total-total") == [0]


def test_hostile_text_is_escaped_everywhere():
    statement = demo_statement(
        park_name=HOSTILE,
        park_header=(HOSTILE,),
        enterprise_name=HOSTILE,
        uscc=HOSTILE,
        invoices=(
            StatementInvoice(
                HOSTILE,
                date(2026, 10, 1),
                date(2026, 10, 31),
                (ChargeLine(HOSTILE, HOSTILE, 100, 8, HOSTILE),),
            ),
        ),
        credit_notes=(StatementCreditNote(HOSTILE, date(2026, 10, 2), HOSTILE, HOSTILE, 1),),
        payments=(StatementPayment(HOSTILE, date(2026, 10, 3), 1, HOSTILE),),
        late_fees=(StatementLateFee(HOSTILE, date(2026, 10, 4), HOSTILE, 1),),
    )
    document = render_statement(statement)

    assert "<script>" not in document and "<b>" not in document
    assert "&lt;script&gt;" in document
    found = roles(document)
    for role in (
        "park-name",
        "park-header",
        "enterprise-name",
        "uscc",
        "line-description",
        "invoice-number",
        "credit-note-reason",
        "late-fee-description",
        "payment-txn",
    ):
        assert found[role] == [HOSTILE], role  # shown as the text it is


def test_the_document_is_a_print_ready_a4_page_with_chinese_fonts():
    document = render_statement(demo_statement())
    assert document.startswith("<!DOCTYPE html>")
    assert '<meta charset="utf-8">' in document
    assert "size: A4" in document and "@media print" in document
    assert '"Noto Sans CJK SC"' in document and "SimSun" in document


def test_amounts_must_be_integer_fen():
    with pytest.raises(TypeError, match=r"ChargeLine\.total_fen"):
        ChargeLine("rent", "x", 12.5, 0)
    with pytest.raises(TypeError, match="opening_balance_fen"):
        demo_statement(opening_balance_fen="100")
    with pytest.raises(ValueError, match="amount_fen must not be negative"):
        StatementPayment("T", date(2026, 1, 1), -1)
    with pytest.raises(ValueError, match="period_end"):
        demo_statement(period_start=date(2026, 11, 1))


# Property: whatever the lines, the totals the document shows are the sums of the lines
# it shows, and the closing balance follows from the figures on the page.

amounts_fen = st.integers(min_value=-(10**11), max_value=10**11)
# Any text, with markup in it often: a name "</dd><script>" must print as that text.
markup = st.sampled_from(["<script>alert(1)</script>", "</td></tr><b>", "&amp;", "<!--", '"'])
text = st.lists(st.text(max_size=10) | markup, max_size=3).map("".join)
rates = st.sampled_from([None, "0.09", "0.06", "0.13", "0", "0.055"])
charge_lines = st.builds(
    ChargeLine,
    category=st.sampled_from(["rent", "water", "service"]) | text,
    description=text,
    total_fen=amounts_fen,
    tax_fen=amounts_fen,
    tax_rate=rates,
)
days = st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31))
invoices = st.builds(
    StatementInvoice,
    number=text,
    issued_on=days,
    due_on=days,
    lines=st.lists(charge_lines, min_size=1, max_size=6).map(tuple),
)
positive = st.integers(min_value=0, max_value=10**11)
credit_notes = st.builds(
    StatementCreditNote,
    number=text,
    issued_on=days,
    invoice_number=st.none() | text,
    reason=text,
    total_fen=positive,
    tax_fen=amounts_fen,
)
payments = st.builds(
    StatementPayment, bank_txn_id=text, received_on=days, amount_fen=positive, applied_to=text
)
late_fees = st.builds(
    StatementLateFee,
    invoice_number=text,
    charged_on=days,
    description=text,
    amount_fen=amounts_fen,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=text,
    opening=amounts_fen,
    invoice_list=st.lists(invoices, max_size=4),
    note_list=st.lists(credit_notes, max_size=3),
    payment_list=st.lists(payments, max_size=3),
    fee_list=st.lists(late_fees, max_size=3),
)
def test_rendered_totals_always_match_the_rendered_lines(
    name, opening, invoice_list, note_list, payment_list, fee_list
):
    statement = demo_statement(
        enterprise_name=name,
        opening_balance_fen=opening,
        invoices=invoice_list,
        credit_notes=note_list,
        payments=payment_list,
        late_fees=fee_list,
    )
    found = roles(render_statement(statement))

    line_totals = amounts(found, "line-total")
    assert line_totals == [line.total_fen for i in invoice_list for line in i.lines]
    assert amounts(found, "line-tax") == [line.tax_fen for i in invoice_list for line in i.lines]
    invoice_totals, invoice_taxes = amounts(found, "invoice-total"), amounts(found, "invoice-tax")
    start = 0
    for index, invoice in enumerate(invoice_list):
        count = len(invoice.lines)
        assert invoice_totals[index] == sum(line_totals[start : start + count])
        assert invoice_taxes[index] == sum(amounts(found, "line-tax")[start : start + count])
        start += count
    assert amounts(found, "invoiced") == [sum(invoice_totals)]
    assert amounts(found, "late-fees") == [sum(amounts(found, "late-fee-amount"))]
    assert amounts(found, "credited") == [sum(amounts(found, "credit-note-amount"))]
    assert amounts(found, "paid") == [sum(amounts(found, "payment-amount"))]
    if note_list:
        assert amounts(found, "credit-notes-total") == amounts(found, "credited")
    if payment_list:
        assert amounts(found, "payments-total") == amounts(found, "paid")
    # The VAT split covers every line and every credit note, once.
    assert amounts(found, "tax-total-total") == [sum(amounts(found, "tax-row-total"))]
    assert amounts(found, "tax-total-tax") == [sum(amounts(found, "tax-row-tax"))]
    assert sum(amounts(found, "tax-row-total")) == sum(invoice_totals) + sum(
        amounts(found, "credit-note-amount")
    )
    for net, tax, total in zip(
        amounts(found, "tax-row-net"),
        amounts(found, "tax-row-tax"),
        amounts(found, "tax-row-total"),
        strict=True,
    ):
        assert net + tax == total
    # The closing balance is what the page's own figures add up to.
    summary = sum(amounts(found, role)[0] for role in ("invoiced", "late-fees", "credited", "paid"))
    assert amounts(found, "closing-balance") == [amounts(found, "opening-balance")[0] + summary]
    assert amounts(found, "closing-balance") == [statement.closing_balance_fen]
    # Hostile or not, the name reads back as the text it is (markup in it would not).
    assert found["enterprise-name"] == [name]
