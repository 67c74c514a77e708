"""The bank gateway: report a payment received.

    .venv/bin/python examples/bank.py [--amount-fen 28800000] [--reference AUX-2026-000001]

``bank_txn_id`` is the idempotency key: the sample's, sent again, changes nothing;
``--bank-txn-id`` sends another payment.
"""

import sys

from samples import arguments, report, run, sample, uri

from clients.publisher import Publisher


def main() -> int:
    parser = arguments("bank", __doc__)
    parser.add_argument("--bank-txn-id")
    parser.add_argument("--amount-fen", type=int, help="integer fen")
    parser.add_argument("--reference", help="the invoice number paid, if the payer gave it")
    options = parser.parse_args()
    payment = sample("bank", "payment_received")
    for field in ("bank_txn_id", "amount_fen", "reference"):
        if getattr(options, field) is not None:
            payment[field] = getattr(options, field)

    def publish() -> None:
        with Publisher(uri(options), "bank", park_id=options.park_id) as bank:
            report(bank.publish("payment_received", payment))

    return run(publish)


if __name__ == "__main__":
    sys.exit(main())
