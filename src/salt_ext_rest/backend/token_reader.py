"""Reading Salt tokens from the token store, on a small pool of threads of its own.

Each thread that reads a token uses its own Salt ``LoadAuth``, built before its first
read (20-90 ms of CPU; the token store's module is loaded by that first read: a few ms
more). Every thread of this pool is started and given its LoadAuth
when the worker starts (:meth:`TokenReader.warm`), so no request pays for one: on the
salt pool, reads landed on any of its threads, and a request long after start could
still be the first read of one of them.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

#: threads reading tokens, all of them ready when the worker starts
TOKEN_THREADS = 2


class TokenReader:
    def __init__(self, loadauth: Callable[[], Any], threads: int = TOKEN_THREADS) -> None:
        self.loadauth = loadauth  # this thread's LoadAuth (the gateway's)
        self.threads = threads
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="rest_ext-token")

    async def read(self, token: str) -> dict[str, Any]:
        """The token's data from the store, or ``{}`` when unknown or expired."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, self._read, token)

    def _read(self, token: str) -> dict[str, Any]:
        tdata = self.loadauth().get_tok(token)
        return tdata if isinstance(tdata, dict) and tdata.get("token") == token else {}

    async def warm(self) -> None:
        """Start every thread and build its LoadAuth now, its token store's module
        loaded (each waits for the others, so each thread gets one)."""
        loop, ready = asyncio.get_running_loop(), threading.Barrier(self.threads, timeout=30)

        def build() -> None:
            try:
                _load_store(self.loadauth())
            finally:
                ready.wait()  # even after a failure: no thread is kept waiting

        await asyncio.gather(*(loop.run_in_executor(self.pool, build) for _ in range(self.threads)))

    def shutdown(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


def _load_store(loadauth: Any) -> None:
    """Load the module a token read uses (Salt loads it on the first read: a few ms):
    the token cache's driver, read for a key no token has; Salt's legacy token
    modules (``rediscluster``) looked up, not called."""
    opts = loadauth.opts
    if opts.get("eauth_tokens.cache_driver") == "rediscluster":
        _ = loadauth.tokens[f"{opts['eauth_tokens']}.get_token"]  # the look-up loads it
    else:
        loadauth.cache.fetch("tokens", f"rest_ext-warm-{uuid.uuid4().hex}")
