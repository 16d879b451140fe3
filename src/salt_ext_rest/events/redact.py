"""Strip secrets from event data before any subscriber sees it (REFERENCE.md S2, S4)."""

from __future__ import annotations

from typing import Any

SECRET_KEYS = frozenset(
    {"key", "token", "password", "authorization", "x-auth-token", "cookie", "set-cookie",
     "proxy-authorization", "passwd", "eauth_password"}
)  # fmt: skip
REDACTED = "<redacted>"


def redact(value: Any) -> Any:
    """A copy of ``value`` with every secret-named key's value replaced, at any depth."""
    if isinstance(value, dict):
        return {
            k: REDACTED if isinstance(k, str) and k.lower() in SECRET_KEYS else redact(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    return value
