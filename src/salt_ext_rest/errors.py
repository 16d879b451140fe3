"""One exception hierarchy for the API, each class carrying its HTTP status.

Handlers raise these; the base handler renders every one as a JSON (or YAML) body
``{"status": <code>, "error": <reason>, "message": <text>, ...details}``. Salt's own
exceptions are mapped to these by :func:`from_salt_exception` (a built-in plugin
implementing the ``rest_map_exception`` hook), so a traceback never reaches a client.
"""

from __future__ import annotations

from typing import Any

import salt.exceptions


class RestError(Exception):
    """Base class: an error with an HTTP status and a client-safe message."""

    status = 500
    reason = "Internal Server Error"

    def __init__(self, message: str | None = None, **details: Any) -> None:
        super().__init__(message or self.reason)
        self.message = message or self.reason
        self.details = details

    def body(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "error": self.reason,
            "message": self.message,
            **self.details,
        }


class BadRequest(RestError):
    status, reason = 400, "Bad Request"


class ValidationFailed(BadRequest):
    """A lowstate chunk or request body does not match its schema."""


class Unauthorized(RestError):
    status, reason = 401, "Unauthorized"


class Forbidden(RestError):
    status, reason = 403, "Forbidden"


class NotFound(RestError):
    status, reason = 404, "Not Found"


class MethodNotAllowed(RestError):
    status, reason = 405, "Method Not Allowed"


class NotAcceptable(RestError):
    status, reason = 406, "Not Acceptable"


class Conflict(RestError):
    status, reason = 409, "Conflict"


class PayloadTooLarge(RestError):
    status, reason = 413, "Payload Too Large"


class UnsupportedMediaType(RestError):
    status, reason = 415, "Unsupported Media Type"


class TooManyRequests(RestError):
    status, reason = 429, "Too Many Requests"


class ServiceUnavailable(RestError):
    status, reason = 503, "Service Unavailable"


class GatewayTimeout(RestError):
    status, reason = 504, "Gateway Timeout"


_AUTH_ERRORS = (
    salt.exceptions.AuthenticationError,
    salt.exceptions.EauthAuthenticationError,
    salt.exceptions.TokenAuthenticationError,
)


def refused_after_login(exc: BaseException, name: str) -> Forbidden | None:
    """Salt refusing a job of a caller rest_ext has already authenticated: that is the
    caller's ACL speaking (403), not a failed login; ``None`` for any other error."""
    if isinstance(exc, (*_AUTH_ERRORS, salt.exceptions.AuthorizationError)):
        return Forbidden(f"User {name!r} is not authorized for this request")
    return None


def from_salt_exception(exc: BaseException) -> RestError | None:
    """Map a Salt exception to a :class:`RestError`; ``None`` when it is not Salt's."""
    if isinstance(exc, _AUTH_ERRORS):
        return Unauthorized("Authentication failed or not authorized for this request")
    if isinstance(exc, salt.exceptions.AuthorizationError):
        return Forbidden("Not authorized for this request")
    if isinstance(exc, salt.exceptions.SaltDaemonNotRunning | salt.exceptions.SaltReqTimeoutError):
        return ServiceUnavailable("The Salt master is not available")
    if isinstance(exc, salt.exceptions.SaltClientTimeout):
        return GatewayTimeout("Timed out waiting for the Salt master")
    if isinstance(exc, salt.exceptions.SaltClientError):
        # LocalClient wraps "master not responding / not contactable" in SaltClientError.
        return ServiceUnavailable("The Salt master did not answer")
    if isinstance(exc, salt.exceptions.SaltInvocationError):
        return BadRequest(_first_line(exc))
    return None


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "message", "") or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
