"""The RPC-facing errors: what the onboarding service's RPC callers (operators' tools) see.

Two names for errors, one per audience: this module (``exceptions.py``, the nameko
convention) holds the **RPC-facing** errors, raised by the use cases in ``handlers/``;
``domain/errors.py`` holds the **domain's** errors, whose ``code`` an
:class:`IllegalTransition` carries when the domain refused.

nameko sends them as ``RemoteError`` with ``exc_type`` set to the class name below and
the message as ``value``; the message always starts with a stable code in brackets
(``[unknown_enterprise] …``) so a program can branch on it.
"""


class OnboardingError(Exception):
    """Base of the errors onboarding's RPC methods raise on purpose."""

    code = "onboarding_error"

    def __init__(self, message: str, code: str | None = None):
        self.code = code or self.code
        super().__init__(f"[{self.code}] {message}")


class NotFound(OnboardingError):
    """The park, enterprise or application named does not exist."""

    code = "not_found"


class InvalidRequest(OnboardingError):
    """An argument is missing or malformed (the message names it)."""

    code = "invalid_request"


class IllegalTransition(OnboardingError):
    """The domain's rules forbid this action in the current state (code from the domain)."""

    code = "illegal_transition"


EXPECTED = (NotFound, InvalidRequest, IllegalTransition)
