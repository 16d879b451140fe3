"""``X-Request-ID``: the client's when it is sane, else a generated one; on every response.

A client's value is kept when it is 1-128 characters of ``[A-Za-z0-9._:-]`` (so it
cannot forge log lines or headers); anything else is replaced by a random UUID (with
its dashes: a run of 32 hex digits would look like a token to the log filters). The
id is bound to the request's task for the audit log
(:func:`salt_ext_rest.operations.audit.bind`) and written in the access log line.
"""

from __future__ import annotations

import re
import uuid

import tornado.httputil
import tornado.web

HEADER = "X-Request-ID"
_SANE = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def request_id(request: tornado.httputil.HTTPServerRequest) -> str:
    """The request's id: the client's ``X-Request-ID`` when sane, else a new one."""
    claimed = request.headers.get(HEADER)
    if claimed is not None and _SANE.fullmatch(claimed):
        return claimed
    return str(uuid.uuid4())


def peer_address(request: tornado.httputil.HTTPServerRequest) -> str:
    """The TCP peer's address: never ``X-Forwarded-For`` or ``X-Real-Ip``."""
    address = getattr(getattr(request.connection, "context", None), "address", None)
    if isinstance(address, tuple) and address:
        return str(address[0])
    return "unknown"


def stamp(handler: tornado.web.RequestHandler) -> str:
    """Set ``X-Request-ID`` on the handler's response (call it from
    ``set_default_headers``: it runs again when an error response clears the headers);
    the id is chosen once per request and kept as ``handler.request_id``."""
    rid = getattr(handler, "request_id", None)
    if rid is None:
        rid = handler.request_id = request_id(handler.request)  # type: ignore[attr-defined]
    handler.set_header(HEADER, rid)
    return rid
