"""Cross-origin resource sharing per ``cors_origin``.

Only configured origins are ever named in ``Access-Control-Allow-Origin``; the
request's ``Origin`` is never reflected unless it is in the list. Credentials (the
``session_id`` cookie) are allowed only for exactly listed origins: ``*`` answers
``Access-Control-Allow-Origin: *`` without credentials, as browsers require.
"""

from __future__ import annotations

ALLOW_HEADERS = "Accept, Content-Type, Last-Event-ID, X-Auth-Token, X-Requested-With"
EXPOSE_HEADERS = "X-Auth-Token"
MAX_AGE = "1400"


def response_headers(allowed: tuple[str, ...], origin: str | None) -> dict[str, str]:
    """Headers for any response to a request carrying ``Origin``.

    ``Vary: Origin`` is sent whenever CORS is configured, so caches never hand one
    origin's answer to another.
    """
    if not allowed:
        return {}
    headers = {"Vary": "Origin"}
    if not origin:
        return headers
    if origin in allowed and origin != "*":
        headers["Access-Control-Allow-Origin"] = origin
        headers["Access-Control-Allow-Credentials"] = "true"
    elif "*" in allowed:
        headers["Access-Control-Allow-Origin"] = "*"
    else:
        return headers
    headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
    return headers


def preflight_headers(
    allowed: tuple[str, ...], origin: str | None, requested: str | None, methods: list[str]
) -> dict[str, str]:
    """Extra headers for a preflight; none when the origin or the method is not allowed."""
    base = response_headers(allowed, origin)
    if "Access-Control-Allow-Origin" not in base:
        return {}
    if requested and requested.strip().upper() not in methods:
        return {}
    return {
        "Access-Control-Allow-Methods": ", ".join(methods),
        "Access-Control-Allow-Headers": ALLOW_HEADERS,
        "Access-Control-Max-Age": MAX_AGE,
    }
