"""The RPC-facing errors: what the ticketing service's RPC callers (operators' tools,
the park CLI) see.

As in onboarding: nameko sends them as ``RemoteError`` with ``exc_type`` the class name
and the message as ``value``; the message starts with a stable code in brackets
(``[not_found] …``) so a program can branch on it.
"""


class TicketingServiceError(Exception):
    """Base of the errors ticketing's RPC methods and operator use cases raise on purpose."""

    code = "ticketing_error"

    def __init__(self, message: str, code: str | None = None):
        self.code = code or self.code
        super().__init__(f"[{self.code}] {message}")


class NotFound(TicketingServiceError):
    """The ticket or firm named does not exist."""

    code = "not_found"


class InvalidRequest(TicketingServiceError):
    """An argument is missing or malformed (the message names it)."""

    code = "invalid_request"


EXPECTED = (NotFound, InvalidRequest)
