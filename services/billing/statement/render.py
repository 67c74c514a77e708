"""Render a :class:`Statement` to one self-contained, print-ready HTML document.

Jinja2 with autoescaping on: enterprise names, descriptions and reasons come from outside
(the portal, operators) and are hostile text. Every total is computed here, in integer
fen, from the lines the document shows; the template only formats.
"""

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from services.billing.statement.model import Statement
from shared.money import format_yuan, parse_rate

TEMPLATES = Path(__file__).with_name("templates")

CATEGORY_LABELS = {
    "purchase": "购房款 Unit purchase",
    "down_payment": "首付款 Down payment",
    "instalment": "分期款 Instalment",
    "rent": "租金 Rent",
    "property_fee": "物业费 Property fee",
    "water": "水费 Water",
    "electricity": "电费 Electricity",
    "service": "有偿服务 Paid service",
    "paid_service": "有偿服务 Paid service",
    "late_fee": "违约金 Late fee",
}


def yuan(fen: int) -> str:
    """An amount as shown: ``-¥1,234.50`` for −123,450 fen."""
    return format_yuan(fen)


def balance(fen: int) -> str:
    """A balance: what is owed as an amount, a credit (below zero) marked ``CR``."""
    return f"{format_yuan(-fen)} CR" if fen < 0 else format_yuan(fen)


def rate_percent(rate: str | None) -> str:
    """``"0.09"`` → ``"9%"``, ``"0.055"`` → ``"5.5%"``; anything else shown as given."""
    if rate is None:
        return "—"
    try:
        percent = parse_rate(rate) * 100
    except (TypeError, ValueError):
        return str(rate)
    text = format(percent.normalize(), "f")
    return f"{text}%"


def category_label(category: str) -> str:
    return CATEGORY_LABELS.get(category, category)


@dataclass(frozen=True)
class TaxRow:
    label: str
    total_fen: int
    tax_fen: int

    @property
    def net_fen(self) -> int:
        return self.total_fen - self.tax_fen


def tax_split(statement: Statement) -> list[TaxRow]:
    """The period's VAT: invoice lines grouped by rate, then the credit notes (negative)."""
    by_rate: dict[str | None, list[int]] = defaultdict(lambda: [0, 0])
    for invoice in statement.invoices:
        for line in invoice.lines:
            sums = by_rate[line.tax_rate]
            sums[0] += line.total_fen
            sums[1] += line.tax_fen
    rows = [
        TaxRow(f"税率 VAT {rate_percent(rate)}", total, tax)
        for rate, (total, tax) in sorted(by_rate.items(), key=lambda item: _rate_key(item[0]))
    ]
    if statement.credit_notes:
        rows.append(
            TaxRow("红字冲销 Credit notes", -statement.credited_fen, -statement.credited_tax_fen)
        )
    return rows


def _rate_key(rate: str | None) -> tuple[int, Decimal, str]:
    if rate is None:
        return (1, Decimal(0), "")
    try:
        return (0, parse_rate(rate), rate)
    except (TypeError, ValueError):
        return (1, Decimal(0), str(rate))


@cache
def _environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,  # every value, whatever the template's name
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(
        yuan=yuan, balance=balance, rate=rate_percent, category=category_label
    )
    return environment


def render_statement(statement: Statement) -> str:
    """The statement as an HTML document (A4, print stylesheet, Chinese font fallbacks)."""
    rows = tax_split(statement)
    return (
        _environment()
        .get_template("statement.html.j2")
        .render(
            s=statement,
            tax_rows=rows,
            tax_total=TaxRow(
                "合计 Total",
                sum(row.total_fen for row in rows),
                sum(row.tax_fen for row in rows),
            ),
        )
    )
