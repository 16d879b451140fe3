"""Where a browser request comes from: cross-site request forgery through the cookie.

A browser sends the ``session_id`` cookie with any request to the API, whichever page
made it. A request authenticated only by that cookie is therefore accepted for an
unsafe method (or a WebSocket upgrade) only when its ``Origin`` (or, without one, its
``Referer``) is the API's own origin or exactly listed in ``cors_origin`` (``*``
never counts), and never with ``Sec-Fetch-Site: cross-site``. A request with neither
header is not from a browser page and passes (browsers always send ``Origin`` on
cross-origin ``POST`` and WebSocket requests).

The API's own origin is ``<scheme>://<Host header>``; the scheme is the connection's,
or ``X-Forwarded-Proto`` when the peer is one of ``trusted_proxies``.
"""

from __future__ import annotations

import functools
import ipaddress
import urllib.parse
from collections.abc import Iterable

import tornado.httputil

from salt_ext_rest.config import RestConfig

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
DEFAULT_PORTS = {"http": 80, "https": 443}

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def normalise(value: str | None) -> str | None:
    """``scheme://host[:port]`` of a URL or origin, lower case, default port left out;
    ``None`` for anything else (``null``, other schemes, garbage)."""
    if not value:
        return None
    try:
        parts = urllib.parse.urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    suffix = f":{port}" if port is not None and port != DEFAULT_PORTS[scheme] else ""
    return f"{scheme}://{host}{suffix}"


@functools.lru_cache(maxsize=16)
def networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    """``trusted_proxies`` entries (addresses or CIDR blocks) as networks."""
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries)


def _trusted(peer: str | None, trusted: tuple[str, ...]) -> bool:
    if not trusted or not peer:
        return False
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    return any(address in network for network in networks(trusted))


def request_scheme(request: tornado.httputil.HTTPServerRequest, trusted: tuple[str, ...]) -> str:
    """``https`` or ``http`` as the client sees it: the connection's own scheme, or the
    ``X-Forwarded-Proto`` set by a proxy listed in ``trusted_proxies``."""
    if _trusted(request.remote_ip, trusted):
        forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
        if forwarded in DEFAULT_PORTS:
            return forwarded
    return request.protocol


def own_origin(request: tornado.httputil.HTTPServerRequest, trusted: tuple[str, ...]) -> str | None:
    """The API's origin as this request reached it: scheme and ``Host`` header."""
    return normalise(f"{request_scheme(request, trusted)}://{request.host}")


def refuse_cookie(request: tornado.httputil.HTTPServerRequest, config: RestConfig) -> str | None:
    """Why this cookie-authenticated request must be refused (``None``: it may pass)."""
    if not config.csrf_check:
        return None
    own = own_origin(request, config.trusted_proxies)
    return cookie_refusal(request.headers, own, config.cors_origin)


def cookie_refusal(
    headers: tornado.httputil.HTTPHeaders,
    own: str | None,
    allowed: Iterable[str],
) -> str | None:
    """Why a cookie-authenticated request must be refused, or ``None`` to let it pass.

    ``own`` is the API's own origin for this request; ``allowed`` is ``cors_origin``.
    """
    if headers.get("Sec-Fetch-Site", "").strip().lower() == "cross-site":
        return "A cross-site request cannot use the session cookie; send the X-Auth-Token header"
    claimed = headers.get("Origin")
    if claimed is None:
        claimed = headers.get("Referer")
        if not claimed:
            return None  # not sent by a page in a browser
    source = normalise(claimed)
    permitted = {own} | {normalise(entry) for entry in allowed if entry.strip() != "*"}
    if source is not None and source in permitted:
        return None
    return (
        "The session cookie is accepted only from the API's own origin or one listed in "
        "cors_origin; send the X-Auth-Token header instead"
    )
