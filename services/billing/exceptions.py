"""The RPC-facing errors: what billing's RPC callers (operators' tools, the park CLI) see.

As in onboarding and ticketing: nameko sends them as ``RemoteError`` with ``exc_type`` the
class name and the message as ``value``; the message starts with a stable code in
brackets (``[not_found] …``) so a program can branch on it.
"""


class BillingServiceError(Exception):
    """Base of the errors billing's RPC methods and operator use cases raise on purpose."""

    code = "billing_error"

    def __init__(self, message: str, code: str | None = None):
        self.code = code or self.code
        super().__init__(f"[{self.code}] {message}")


class NotFound(BillingServiceError):
    """The enterprise, invoice or payment named does not exist."""

    code = "not_found"


class InvalidRequest(BillingServiceError):
    """An argument is missing or malformed (the message names it)."""

    code = "invalid_request"


class Refused(BillingServiceError):
    """The request is well formed but the state forbids it (``code`` says why: e.g.
    ``not_in_suspense``, ``credit_exceeds_invoice``, ``already_waived``)."""

    code = "refused"


EXPECTED = (NotFound, InvalidRequest, Refused)
