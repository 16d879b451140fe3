"""Token data remembered for a few seconds, and one store read per token at a time.

Every request and every open stream's periodic recheck asks for its token's data. A
short cache saves the store read per request; coalescing concurrent misses means that
500 streams of one token rechecking together cost one read, not 500 executor jobs
whose GIL time would delay every other stream.

Revocation notices name a token by its SHA-256 digest (:func:`digest`), never the
token itself: :meth:`TokenCache.forget_digest` finds it through an index kept beside
the cache.

Beside a cached token, the eauth ACL Salt computed for it may be kept
(:meth:`TokenCache.acl` / :meth:`TokenCache.remember_acl`): it lives no longer than
the token's entry (the same TTL, dropped with it on logout, revocation or refresh), so
a runner or wheel call's ACL check needs no store read either.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

TokenData = dict[str, Any]
#: what an ACL was computed for, beside the token: (name, eauth, groups)
AclKey = tuple[Any, ...]


def digest(token: str) -> str:
    """The name a revocation notice gives ``token``: its SHA-256, in hex."""
    return hashlib.sha256(token.encode()).hexdigest()


class TokenCache:
    def __init__(
        self, fetch: Callable[[str], Awaitable[TokenData]], ttl: float, maxsize: int = 10000
    ) -> None:
        self.fetch, self.ttl, self.maxsize = fetch, ttl, maxsize
        self._data: dict[str, tuple[float, TokenData]] = {}  # token -> (valid until, data)
        self._lookups: dict[str, asyncio.Future[TokenData]] = {}
        self._digests: dict[str, str] = {}  # digest -> token, for what is cached or read
        # token -> (the token's entry it belongs to, for whom, ACL); only for cached tokens
        self._acls: dict[str, tuple[tuple[float, TokenData], AclKey, list[Any]]] = {}
        self.hits = self.misses = 0  # for /metrics

    async def get(self, token: str) -> TokenData:
        """The token's data (``{}`` when unknown), from the cache or one shared read."""
        hit = self.entry(token)
        if hit is not None:
            self.hits += 1
            return hit[1]
        self.misses += 1
        lookup = self._lookups.get(token)
        if lookup is None:
            lookup = asyncio.ensure_future(self.fetch(token))
            self._lookups[token] = lookup
            self._digests[digest(token)] = token
            lookup.add_done_callback(functools.partial(self._fetched, token))
        # One caller going away must not cancel the read the others wait for.
        return await asyncio.shield(lookup)

    def _fetched(self, token: str, lookup: asyncio.Future[TokenData]) -> None:
        if self._lookups.get(token) is not lookup:
            return  # forgotten (revoked) while the read was in flight: do not remember
        del self._lookups[token]
        if not lookup.cancelled() and lookup.exception() is None:
            self.remember(token, lookup.result())
        if token not in self._data:
            self._digests.pop(digest(token), None)

    def remember(self, token: str, tdata: TokenData) -> None:
        if tdata and self.ttl > 0:
            if len(self._data) >= self.maxsize:
                self._data.clear()
                self._acls.clear()
                self._digests = {d: t for d, t in self._digests.items() if t in self._lookups}
            self._data[token] = (time.monotonic() + self.ttl, tdata)
            self._acls.pop(token, None)  # a fresh read: the ACL is computed afresh too
            self._digests[digest(token)] = token

    def entry(self, token: str) -> tuple[float, TokenData] | None:
        """The token's live cache entry (an opaque handle for :meth:`remember_acl`)."""
        hit = self._data.get(token)
        if hit and hit[0] > time.monotonic() and hit[1].get("expire", 0) > time.time():
            return hit
        return None

    def acl(self, token: str, key: AclKey | None = None) -> list[Any] | None:
        """The ACL remembered for ``token`` (computed for ``key``, unless ``None``) while
        its entry lives, else ``None``."""
        found = self._acls.get(token)
        if found is None or key not in (None, found[1]) or self.entry(token) is not found[0]:
            return None
        return list(found[2])

    def remember_acl(
        self, token: str, entry: tuple[float, TokenData] | None, key: AclKey, acl: list[Any]
    ) -> None:
        """Keep ``acl`` beside ``entry`` (what :meth:`entry` gave before it was computed),
        unless the token was forgotten or read again meanwhile."""
        if entry is not None and self._data.get(token) is entry:
            self._acls[token] = (entry, key, list(acl))

    def forget(self, token: str) -> None:
        """Drop what is known of ``token``, including a read in flight."""
        self._data.pop(token, None)
        self._acls.pop(token, None)
        self._lookups.pop(token, None)
        self._digests.pop(digest(token), None)

    def forget_digest(self, token_digest: str) -> str | None:
        """Forget the token whose :func:`digest` is ``token_digest``; the token, if known."""
        token = self._digests.get(token_digest)
        if token is not None:
            self.forget(token)
        return token

    def clear(self) -> None:
        """Forget every token (a revocation notice may have been missed); reads in
        flight are not remembered when they finish."""
        self._data.clear()
        self._acls.clear()
        self._lookups.clear()
        self._digests.clear()
