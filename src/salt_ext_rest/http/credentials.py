"""Where a request's credentials come from: the one extractor every route uses.

A token travels, by precedence, in the URL (the WebSocket routes that carry one), the
``X-Auth-Token`` header, an ``Authorization: Bearer`` header, or the ``session_id``
cookie; on ``/stream`` in the first
message; on ``/run``, ``/keys`` and inline chunks in the body (a token, or eauth
``username``/``password``/``eauth``). ``source`` records which, so callers can apply
the cookie's cross-site checks (:mod:`salt_ext_rest.http.origin`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tornado.httputil import HTTPServerRequest

from salt_ext_rest.auth.identity import Credentials

#: the session cookie set by ``POST /login``, as in rest_cherrypy
COOKIE = "session_id"


def from_request(
    request: HTTPServerRequest, cookie: str | None, path_token: str | None = None
) -> Credentials:
    """URL token, else ``X-Auth-Token``, else ``Authorization: Bearer``, else the
    ``session_id`` cookie; else none."""
    if path_token:
        return Credentials(token=path_token, source="url")
    header = request.headers.get("X-Auth-Token")
    if header:
        return Credentials(token=header.strip(), source="header")
    bearer = bearer_token(request.headers.get("Authorization"))
    if bearer:
        return Credentials(token=bearer, source="header")
    if cookie:
        return Credentials(token=cookie, source="cookie")
    return Credentials()


def bearer_token(authorization: str | None) -> str | None:
    """The credential of an ``Authorization: Bearer <credential>`` header."""
    scheme, _, value = (authorization or "").strip().partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


def from_message(token: Any) -> Credentials:
    """The token of a ``/stream`` ``auth`` message."""
    return Credentials(token=str(token or ""), source="message")


def from_body(data: Mapping[str, Any], source: str) -> Credentials | None:
    """Credentials carried in a body or chunk (``token``, or eauth ``username``/
    ``password``/``eauth``); ``None`` when there are none."""
    if data.get("token"):
        return Credentials(token=str(data["token"]), source=source)
    if not data.get("eauth"):
        return None
    return Credentials(
        username=data.get("username"),
        password=data.get("password"),
        eauth=data.get("eauth"),
        source=source,
    )
