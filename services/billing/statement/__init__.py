"""An enterprise's monthly statement as a printable document (HTML; PDF by the browser's
print, see docs/billing.md § Statements)."""

from services.billing.statement.model import (
    ChargeLine,
    Statement,
    StatementCreditNote,
    StatementInvoice,
    StatementLateFee,
    StatementPayment,
)
from services.billing.statement.render import render_statement

__all__ = [
    "ChargeLine",
    "Statement",
    "StatementCreditNote",
    "StatementInvoice",
    "StatementLateFee",
    "StatementPayment",
    "render_statement",
]
