"""The signing keys of an OIDC issuer: a JWKS file or URL, cached, read off the IOLoop.

Keys are re-read every ``ttl`` seconds, and at once (at most every ``REFETCH``
seconds) when a token names a ``kid`` not yet known: the issuer rotated its keys.
A URL must be ``https://`` (``http://`` only on the loopback interface, for tests).
"""

from __future__ import annotations

import json
import logging
import time
import urllib.parse
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import jwt

log = logging.getLogger(__name__)
#: the soonest an unknown ``kid`` makes the keys be read again, in seconds
REFETCH = 10.0
FETCH_TIMEOUT = 5.0
MAX_BYTES = 1024 * 1024
LOOPBACK = ("127.0.0.1", "::1", "localhost")

Offload = Callable[..., Awaitable[Any]]


def read_jwks(source: str) -> dict[str, Any]:
    """The JWKS document at ``source`` (blocking)."""
    if "://" not in source:
        return json.loads(Path(source).read_text())
    url = urllib.parse.urlsplit(source)
    if url.scheme != "https" and not (url.scheme == "http" and url.hostname in LOOPBACK):
        raise ValueError("a JWKS URL must be https://")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(source, timeout=FETCH_TIMEOUT) as response:
        return json.loads(response.read(MAX_BYTES))


def signing_keys(document: dict[str, Any]) -> dict[str, jwt.PyJWK]:
    """``kid -> key`` of the usable signing keys (others are skipped)."""
    keys: dict[str, jwt.PyJWK] = {}
    for entry in document.get("keys") or []:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig" or "kid" not in entry:
            continue
        try:
            keys[str(entry["kid"])] = jwt.PyJWK.from_dict(entry)
        except jwt.PyJWTError:
            continue
    return keys


class Jwks:
    def __init__(self, source: str, ttl: float, offload: Offload) -> None:
        self.source, self.ttl, self.offload = source, ttl, offload
        self.keys: dict[str, jwt.PyJWK] = {}
        self._read_at = float("-inf")

    async def key(self, kid: str) -> jwt.PyJWK | None:
        now = time.monotonic()
        stale = now - self._read_at > self.ttl
        unknown = kid not in self.keys and now - self._read_at > REFETCH
        if stale or unknown:
            self._read_at = now
            try:
                self.keys = signing_keys(await self.offload(read_jwks, self.source))
            except (OSError, ValueError) as exc:
                log.warning("rest_ext: JWKS not read: %s", exc)
        return self.keys.get(kid)
