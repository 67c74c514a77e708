"""The RPC-facing errors: what the buyback service's RPC callers (operators' tools) see.

nameko sends them as ``RemoteError`` with ``exc_type`` set to the class name and the
message as ``value``; the message starts with a stable code in brackets
(``[already_settled] …``) so a program can branch on it.
"""


class BuybackError(Exception):
    """Base of the errors buyback's RPC methods raise on purpose."""

    code = "buyback_error"

    def __init__(self, message: str, code: str | None = None):
        self.code = code or self.code
        super().__init__(f"[{self.code}] {message}")


class NotFound(BuybackError):
    """No claim has that id."""

    code = "not_found"


class InvalidRequest(BuybackError):
    """An argument is missing or malformed (the message names it)."""

    code = "invalid_request"


class IllegalTransition(BuybackError):
    """The claim's state forbids this (``already_settled``, ``claim_not_open``)."""

    code = "illegal_transition"


EXPECTED = (NotFound, InvalidRequest, IllegalTransition)
