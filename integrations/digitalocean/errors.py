"""Typed errors of the DigitalOcean API client.

Callers branch on the type (an auth error stops a sync for good, a server error is retried by
the next run), operators read the message: it names the request, the status and what DO said,
and never the token.
"""

from __future__ import annotations


class DigitalOceanError(Exception):
    """Base of every error the DO client raises.

    `status` is the HTTP status (None when no response arrived), `url` the request URL
    (query string included, never credentials) and `message` the operator-facing text.
    """

    def __init__(self, message: str, *, status: int | None = None, url: str | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.url = url

    def __str__(self) -> str:
        return self.message


class DOAuthError(DigitalOceanError):
    """401 / 403: the token is missing, revoked or lacks the scope. Retrying cannot help."""


class DONotFound(DigitalOceanError):
    """404: the object (or the endpoint) does not exist."""


class DORateLimited(DigitalOceanError):
    """429 still answered after the retry budget was spent."""


class DOServerError(DigitalOceanError):
    """5xx, connection failure or timeout still happening after the retry budget was spent."""


class DOBadPayload(DigitalOceanError):
    """A 2xx answer we cannot use: not JSON, missing the expected key, or broken pagination."""


class DOResponseTooLarge(DOBadPayload):
    """A 2xx body larger than the caller allows (`limit`, in bytes); it was not read whole."""

    def __init__(
        self, message: str, *, limit: int, status: int | None = None, url: str | None = None
    ):
        super().__init__(message, status=status, url=url)
        self.limit = limit


class DOClientError(DigitalOceanError):
    """Any other 4xx: the request itself is wrong (validation, conflict, ...)."""
