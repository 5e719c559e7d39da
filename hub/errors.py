"""Refusals any capability raises, each carrying the reply it causes.

A refusal is an HTTP status and MAX's error body, `{"objectType": "error", "error": ...,
"error_description": ...}`; the HTTP side (`web.requests`) answers it as it is. Domain code
raises the kind that says what went wrong and never builds a response itself.
"""

from __future__ import annotations


class Refused(Exception):
    """A request refused: `status` and `error` name the kind, `description` says why."""

    status = 400
    error = "ValidationError"

    def __init__(self, description: str, *, status: int | None = None, error: str | None = None):
        super().__init__(description)
        self.description = description
        if status is not None:
            self.status = status
        if error is not None:
            self.error = error

    def body(self) -> dict[str, str]:
        return {"objectType": "error", "error": self.error, "error_description": self.description}

    def headers(self) -> dict[str, str]:
        """HTTP headers the refusal comes with."""
        return {}


class Invalid(Refused):
    """The request is malformed or breaks a rule (400)."""


class Unauthorized(Refused):
    status, error = 401, "InvalidCredentials"


class Forbidden(Refused):
    status, error = 403, "Forbidden"


class NotFound(Refused):
    status, error = 404, "ObjectNotFound"


class Conflict(Refused):
    status, error = 409, "Conflict"


class TooLarge(Refused):
    status, error = 413, "PayloadTooLarge"


class Unavailable(Refused):
    """A backend (broker, store) is away: trying again later may work (503)."""

    status, error = 503, "ServiceUnavailable"


class TooManyRequests(Refused):
    """The caller goes faster than its rate limit (429); `Retry-After` says when to come back."""

    status, error = 429, "TooManyRequests"

    def __init__(self, description: str, retry_after: int):
        super().__init__(description)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}
