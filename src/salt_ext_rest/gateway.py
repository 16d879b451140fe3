"""The only place that calls Salt's blocking APIs, always on an executor thread.

Salt's eauth, token store and clients are synchronous. Each executor thread keeps
its own Salt objects (``threading.local``), built on first use, so nothing Salt
shares is used from two threads at once, and nothing blocks the IOLoop.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import salt.auth
import salt.client
import salt.netapi
import salt.utils.minions

from salt_ext_rest.auth.failure_delay import FailureDelay
from salt_ext_rest.auth.identity import Credentials
from salt_ext_rest.auth.loader_misses import KnownMisses
from salt_ext_rest.auth.token_cache import TokenCache
from salt_ext_rest.events.firer import EventFirer

log = logging.getLogger(__name__)

T = TypeVar("T")

EAUTH_KEYS = ("username", "password", "eauth")
REACHABLE_TTL = 1.0


class SaltGateway:
    """Async facade over Salt's auth and client APIs."""

    def __init__(
        self,
        opts: dict[str, Any],
        threads: int = 32,
        auth_threads: int = 4,
        token_cache_ttl: float = 0.0,
    ) -> None:
        self.opts = opts
        self._local = threading.local()
        self.token_cache = TokenCache(self._read_token, token_cache_ttl)
        self.firer = EventFirer(opts, self.call)
        self._reachable_at = -REACHABLE_TTL
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="rest_ext-salt")
        # eauth (PAM, LDAP, deliberately slow failures) gets its own pool, so a burst
        # of bad logins never delays token checks or jobs.
        self.auth_pool = ThreadPoolExecutor(auth_threads, thread_name_prefix="rest_ext-auth")
        self.failure_delay = FailureDelay()

    # -- thread-local Salt objects -------------------------------------------------
    def loadauth(self) -> salt.auth.LoadAuth:
        if not hasattr(self._local, "loadauth"):
            loadauth = salt.auth.LoadAuth(self.opts)
            loadauth.auth = KnownMisses(loadauth.auth)
            loadauth.time_auth = functools.partial(self._check_eauth, loadauth)
            self._local.loadauth = loadauth
        return self._local.loadauth

    def ckminions(self) -> salt.utils.minions.CkMinions:
        if not hasattr(self._local, "ckminions"):
            self._local.ckminions = salt.utils.minions.CkMinions(self.opts)
        return self._local.ckminions

    def local_client(self) -> salt.client.LocalClient:
        """This thread's LocalClient: building one loads Salt's modules (~70 ms of CPU)."""
        if getattr(self._local, "local_client", None) is None:
            self._local.local_client = salt.client.get_local_client(mopts=self.opts)
        return self._local.local_client

    def discard_local_client(self) -> None:
        """Forget this thread's LocalClient after a failure; the next call builds a new one."""
        client = getattr(self._local, "local_client", None)
        self._local.local_client = None
        if client is not None:
            client.destroy()

    def netapi(self) -> salt.netapi.NetapiClient:
        if not hasattr(self._local, "netapi"):
            self._local.netapi = salt.netapi.NetapiClient(self.opts)
        return self._local.netapi

    # -- running blocking work -----------------------------------------------------
    async def call(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, functools.partial(func, *args, **kwargs))

    async def call_auth(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.auth_pool, functools.partial(func, *args, **kwargs))

    def master_running(self) -> bool:
        """Salt's own cheap check: the master's IPC sockets exist."""
        ipc = "publish_pull.ipc" if self.opts.get("transport") == "tcp" else "workers.ipc"
        return os.path.exists(os.path.join(self.opts["sock_dir"], ipc))

    async def master_reachable(self) -> bool:
        """Does the master accept connections on its ``ret_port``? Cached for a second.

        A dead master leaves its IPC files behind, and Salt's clients then retry for
        over a minute; a refused connection here answers 503 at once instead.
        """
        now = time.monotonic()
        if now - self._reachable_at < REACHABLE_TTL:
            return True
        host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(
            str(self.opts.get("interface", "")), str(self.opts.get("interface"))
        )
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(host, int(self.opts.get("ret_port", 4506))), 2.0
            )
        except (OSError, asyncio.TimeoutError):
            return False
        writer.close()
        self._reachable_at = now
        return True

    # -- tokens and eauth ----------------------------------------------------------
    def _check_eauth(self, loadauth: salt.auth.LoadAuth, load: dict[str, Any]) -> Any:
        """``LoadAuth.time_auth`` without its wait after a failure (see
        :mod:`salt_ext_rest.auth.failure_delay`); the check's time is kept for that wait."""
        started = time.monotonic()
        # The eauth check time_auth wraps: a private method of Salt's LoadAuth.
        result = loadauth._LoadAuth__auth_call(load)
        self._local.check_seconds = time.monotonic() - started
        return result

    async def mint_token(self, creds: Credentials, token_expire: Any = None) -> dict[str, Any]:
        """Run eauth and mint a Salt token; ``{}`` when the credentials are refused.

        A refusal is answered after Salt's failure delay, waited here, not on a thread.
        """
        load = {"username": creds.username, "password": creds.password, "eauth": creds.eauth}
        if token_expire is not None:
            load["token_expire"] = token_expire
        minted, check_seconds = await self.call_auth(self._mint, load)
        if not minted:
            if check_seconds is not None:  # eauth ran and refused
                await self.failure_delay.wait(check_seconds)
            return {}
        tdata = {k: v for k, v in minted.items() if k != "perms"}
        self.token_cache.remember(minted["token"], tdata)
        return minted

    def _mint(self, load: dict[str, Any]) -> tuple[dict[str, Any], float | None]:
        """(token data with its ACL, or ``{}``; seconds the eauth check took, if it ran)."""
        self._local.check_seconds = None
        tdata = self.loadauth().mk_token(load)
        if not tdata or "token" not in tdata:
            return {}, self._local.check_seconds
        # The ACL /login reports, computed in the same executor call.
        return {**tdata, "perms": self._permissions(tdata)}, self._local.check_seconds

    async def get_token(self, token: str) -> dict[str, Any]:
        """The token's data, or ``{}`` when unknown or expired. ``token`` must be pre-checked.

        Valid tokens are remembered for ``token_cache_ttl`` seconds; a revocation
        through this worker forgets them at once, one made elsewhere (another worker,
        ``salt-run``) is seen within the TTL. Concurrent lookups of one token share a read.
        """
        return await self.token_cache.get(token)

    async def _read_token(self, token: str) -> dict[str, Any]:
        return await self.call(self._get_token, token)

    def _get_token(self, token: str) -> dict[str, Any]:
        tdata = self.loadauth().get_tok(token)
        return tdata if isinstance(tdata, dict) and tdata.get("token") == token else {}

    async def revoke_token(self, token: str) -> None:
        self.token_cache.forget(token)
        await self.call(lambda: self.loadauth().rm_token(token))
        self.token_cache.forget(token)  # a read that started meanwhile may have seen the file

    async def permissions(self, tdata: dict[str, Any]) -> list[Any]:
        """The ACL Salt enforces for this token (user, ``*`` and group entries)."""
        return await self.call(self._permissions, dict(tdata))

    def _permissions(self, tdata: dict[str, Any]) -> list[Any]:
        load = {"eauth": tdata["eauth"], "username": tdata["name"]}
        # get_auth_list builds a fresh list; the master's external_auth is not mutated.
        perms = self.loadauth().get_auth_list(load, token=tdata)
        return salt.netapi.sorted_permissions(perms or [])

    async def fire_event(self, data: dict[str, Any], tag: str) -> bool:
        """Fire ``tag`` on the master's bus; ``False`` when the master did not take it."""
        return await self.firer.fire(data, tag)

    def shutdown(self) -> None:
        self.firer.close()
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.auth_pool.shutdown(wait=False, cancel_futures=True)
