"""Token data remembered for a few seconds, and one store read per token at a time.

Every request and every open stream's periodic recheck asks for its token's data. A
short cache saves the store read per request; coalescing concurrent misses means that
500 streams of one token rechecking together cost one read, not 500 executor jobs
whose GIL time would delay every other stream.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from typing import Any

TokenData = dict[str, Any]


class TokenCache:
    def __init__(
        self, fetch: Callable[[str], Awaitable[TokenData]], ttl: float, maxsize: int = 10000
    ) -> None:
        self.fetch, self.ttl, self.maxsize = fetch, ttl, maxsize
        self._data: dict[str, tuple[float, TokenData]] = {}  # token -> (valid until, data)
        self._lookups: dict[str, asyncio.Future[TokenData]] = {}

    async def get(self, token: str) -> TokenData:
        """The token's data (``{}`` when unknown), from the cache or one shared read."""
        hit = self._data.get(token)
        if hit and hit[0] > time.monotonic() and hit[1].get("expire", 0) > time.time():
            return hit[1]
        lookup = self._lookups.get(token)
        if lookup is None:
            lookup = asyncio.ensure_future(self.fetch(token))
            self._lookups[token] = lookup
            lookup.add_done_callback(functools.partial(self._fetched, token))
        # One caller going away must not cancel the read the others wait for.
        return await asyncio.shield(lookup)

    def _fetched(self, token: str, lookup: asyncio.Future[TokenData]) -> None:
        if self._lookups.get(token) is not lookup:
            return  # forgotten (revoked) while the read was in flight: do not remember
        del self._lookups[token]
        if lookup.cancelled() or lookup.exception() is not None:
            return
        self.remember(token, lookup.result())

    def remember(self, token: str, tdata: TokenData) -> None:
        if tdata and self.ttl > 0:
            if len(self._data) >= self.maxsize:
                self._data.clear()
            self._data[token] = (time.monotonic() + self.ttl, tdata)

    def forget(self, token: str) -> None:
        """Drop what is known of ``token``, including a read in flight."""
        self._data.pop(token, None)
        self._lookups.pop(token, None)
