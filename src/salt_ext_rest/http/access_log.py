"""Access log lines in which tokens never appear; each ends with the request's X-Request-ID."""

from __future__ import annotations

import logging
import re

import tornado.web

access_log = logging.getLogger("salt_ext_rest.access")

# Any long hex run (a Salt token of any hash_type) and token-ish query parameters.
_HEX = re.compile(r"[0-9a-fA-F]{32,}")
_QUERY = re.compile(r"((?:token|session_id|password)=)[^&]*", re.IGNORECASE)


def redact(uri: str) -> str:
    return _HEX.sub("<redacted>", _QUERY.sub(r"\1<redacted>", uri))


def log_request(handler: tornado.web.RequestHandler) -> None:
    if getattr(handler, "quiet", False):  # probes, unless log_probes
        return
    status = handler.get_status()
    level = logging.INFO if status < 400 else logging.WARNING if status < 500 else logging.ERROR
    request = handler.request
    access_log.log(
        level,
        "%d %s %s (%s) %.2fms %s",
        status,
        request.method,
        redact(request.uri or ""),
        request.remote_ip,
        1000.0 * request.request_time(),
        getattr(handler, "request_id", "-"),  # X-Request-ID (:mod:`.request_id`)
    )
