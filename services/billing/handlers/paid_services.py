"""Paid services (``ticketing.events/ticket_resolved`` with a fee): a charge for the next
invoice and the firm's payable."""

from __future__ import annotations

import uuid

from services.billing.domain import events as ev
from services.billing.domain.charges import (
    service_fee,
)
from services.billing.domain.vat import Category
from services.billing.handlers.common import _account_or_wait, publish
from services.billing.repository import Row

# -- ticketing: paid services -----------------------------------------------------------


def charge_resolved_ticket(payload, uow) -> Row | None:
    """A resolved service with a fee becomes a ``service`` charge on the next invoice and
    a payable to the firm (fee − the park's commission). Reviews and free services
    charge nothing."""
    fee = payload.get("fee_fen")
    if not fee or payload.get("outcome") != "done" or payload.get("claim_id") is not None:
        return None
    with uow:
        account = _account_or_wait(uow, payload["enterprise_id"])
        terms = uow.rules.terms(account["park_id"])
        split = service_fee(
            payload["ticket_id"],
            payload["firm_id"],
            payload["service_code"],
            fee,
            terms.service_commission_rate,
        )
        charge = {
            "charge_id": str(uuid.uuid4()),
            "enterprise_id": account["enterprise_id"],
            "park_id": account["park_id"],
            "category": str(Category.SERVICE),
            "description": split.charge.description,
            "amount_fen": fee,
            "firm_id": payload["firm_id"],
            "payable_fen": split.firm_payable_fen,
            "source_key": split.charge.source,
            "invoice_id": None,
            "created_at": uow.clock(),
        }
        if uow.billing.add_charge(**charge):
            publish(
                uow,
                ev.FirmPayableRecorded,
                {
                    "ticket_id": payload["ticket_id"],
                    "firm_id": payload["firm_id"],
                    "enterprise_id": account["enterprise_id"],
                    "fee_fen": fee,
                    "commission_rate": str(terms.service_commission_rate),
                    "commission_fen": split.commission_fen,
                    "payable_fen": split.firm_payable_fen,
                    "request_id": payload.get("request_id"),
                },
                park_id=account["park_id"],
            )
        else:
            charge = None
        uow.commit()
    return charge
