"""The only place that calls Salt's blocking APIs, always on an executor thread.

Salt's eauth, token store and clients are synchronous. Each executor thread keeps
its own Salt objects (:mod:`salt_ext_rest.backend.threadlocal`), built on first use,
so nothing Salt shares is used from two threads at once, and nothing blocks the IOLoop.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import salt.auth
import salt.client
import salt.netapi
import salt.utils.minions
import salt.utils.verify

from salt_ext_rest.auth.failure_delay import FailureDelay
from salt_ext_rest.auth.identity import Credentials, Identity
from salt_ext_rest.backend import acl, keygen, loop_acl, minion_cache, probes
from salt_ext_rest.backend.firer import EventFirer
from salt_ext_rest.backend.loader_misses import KnownMisses
from salt_ext_rest.backend.threadlocal import forget, per_thread
from salt_ext_rest.backend.token_cache import TokenCache, digest
from salt_ext_rest.backend.token_reader import TokenReader

log = logging.getLogger(__name__)

T = TypeVar("T")

REACHABLE_TTL = 1.0
#: the bus event that tells every worker (and every master of a cluster) that a token
#: was revoked; the tag prefix is the bus's INTERNAL_PREFIX (handled, never streamed)
REVOKED_TAG = "salt/netapi/rest_ext/internal/revoked"
#: how long a revocation waits for the master to take its notice
NOTICE_WAIT = 0.5


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
        self.token_reader = TokenReader(self.loadauth)
        self.token_cache = TokenCache(self.token_reader.read, token_cache_ttl)
        self.firer = EventFirer(opts, self.call)
        self._reachable_at = -REACHABLE_TTL
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="rest_ext-salt")
        # eauth (PAM, LDAP, deliberately slow failures) gets its own pool, so a burst
        # of bad logins never delays token checks or jobs.
        self.auth_pool = ThreadPoolExecutor(auth_threads, thread_name_prefix="rest_ext-auth")
        self.failure_delay = FailureDelay()
        self._notices: set[asyncio.Task[bool]] = set()
        self.loop_acl = loop_acl.LoopAcl(self)

    # -- thread-local Salt objects -------------------------------------------------
    def loadauth(self) -> salt.auth.LoadAuth:
        return per_thread(self.opts, "loadauth", _loadauth)

    def ckminions(self) -> salt.utils.minions.CkMinions:
        return per_thread(self.opts, "ckminions", salt.utils.minions.CkMinions)

    def local_client(self) -> salt.client.LocalClient:
        """This thread's LocalClient: building one loads Salt's modules (~70 ms of CPU)."""
        return per_thread(
            self.opts, "local_client", lambda o: salt.client.get_local_client(mopts=o)
        )

    def discard_local_client(self) -> None:
        """Forget this thread's LocalClient after a failure; the next call builds a new one."""
        client = forget(self.opts, "local_client")
        if client is not None:
            client.destroy()

    def netapi(self) -> salt.netapi.NetapiClient:
        return per_thread(self.opts, "netapi", salt.netapi.NetapiClient)

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

    def master_answered(self) -> None:  # on the request channel: reachable, no probe
        self._reachable_at = time.monotonic()

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
        loadauth = self.loadauth()
        loadauth.rest_ext_check_seconds = None
        tdata = loadauth.mk_token(load)
        seconds = loadauth.rest_ext_check_seconds
        if not tdata or "token" not in tdata:
            return {}, seconds
        # The ACL /login reports, computed in the same executor call.
        return {**tdata, "perms": self._permissions(tdata)}, seconds

    async def get_token(self, token: str) -> dict[str, Any]:
        """The token's data, or ``{}`` when unknown or expired. ``token`` must be pre-checked.

        Valid tokens are remembered for ``token_cache_ttl`` seconds; a revocation
        through this worker forgets them at once, one made elsewhere (another worker,
        ``salt-run``) is seen within the TTL. Concurrent lookups of one token share a read.
        """
        return await self.token_cache.get(token)

    async def revoke_token(self, token: str) -> None:
        """Delete the token, then tell every worker: a revocation notice on the bus."""
        self.token_cache.forget(token)
        await self.call(lambda: self.loadauth().rm_token(token))
        self.token_cache.forget(token)  # a read that started meanwhile may have seen the file
        await self.announce_revocation(token)

    async def announce_revocation(self, token: str) -> bool:
        """Fire the revocation notice (the token's digest only); wait at most NOTICE_WAIT.

        A notice not taken in time goes on in the background; either way the token is
        gone from the store, which other workers read within ``token_cache_ttl``.
        """
        notice = asyncio.ensure_future(self.firer.fire({"digest": digest(token)}, REVOKED_TAG))
        self._notices.add(notice)
        notice.add_done_callback(_notice_done)
        notice.add_done_callback(self._notices.discard)
        try:
            if await asyncio.wait_for(asyncio.shield(notice), NOTICE_WAIT):
                return True
            reason = "the master did not take it"
        except asyncio.TimeoutError:
            reason = f"not sent within {NOTICE_WAIT}s"
        except Exception as exc:
            reason = repr(exc)
        log.warning("rest_ext: revocation notice: %s; other workers see the logout "
                    "within token_cache_ttl", reason)  # fmt: skip
        return False

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

    # -- intents: what handlers, policies and the event streams ask of Salt ----------
    async def auth_list(self, identity: Identity) -> list[Any]:
        """The eauth ACL Salt enforces for ``identity``."""
        return await self.call(acl.auth_list, self, identity)

    async def allowed(self, identity: Identity, chunk: dict[str, Any], form: str) -> bool:
        """May ``identity`` run this chunk (``runner``, ``wheel``, ``ssh``)? See loop_acl."""
        if form == "ssh":
            return await self.call(acl.ssh_allowed, self, identity, chunk)
        return await self.loop_acl.allowed(identity, chunk, form)

    async def acl_targets(self, auth_list: list[Any]) -> dict[str, frozenset[str] | None]:
        """The minions each target of ``auth_list`` matches now (``None``: every one)."""
        return await self.call(acl.expand_targets, self.ckminions(), auth_list)

    async def targeted_grains(
        self, tdata: dict[str, Any], tgt: str
    ) -> tuple[dict[str, Any], list[str]]:
        """``({minion: cached grains}, [targeted minions with nothing cached])``; raises
        :class:`~salt_ext_rest.errors.Forbidden` unless the caller may run ``grains.items``."""
        return await self.call(self._targeted_grains, tdata, tgt)

    def _targeted_grains(self, tdata: dict[str, Any], tgt: str) -> tuple[dict[str, Any], list[str]]:
        minions = sorted(self.ckminions().check_minions(tgt, "glob").get("minions", []))
        acl.authorize_grains(self, tdata, tgt, minions)
        return minion_cache.grains_of(self.opts, minions)

    async def accepted_minions(self) -> dict[str, dict[str, Any]]:
        """Accepted minion ids → cached grains (``{}`` when none are cached)."""
        return await self.call(minion_cache.read_minions, self.opts)

    async def cached_grains(self, mids: list[str]) -> dict[str, dict[str, Any]]:
        """Cached grains of these minions; those without any are left out."""
        return await self.call(minion_cache.read_grains, self.opts, mids)

    async def gen_accept(self, mid: str, keysize: int, force: bool) -> dict[str, str]:
        """A new key pair for ``mid``, its public key accepted (``{}``: already accepted)."""
        return await self.call(keygen.gen_accept, self.opts, mid, keysize, force)

    async def ping_master(self, timeout: float) -> None:
        """A ``ping`` echoed through the request channel (readiness); raises if not."""
        await probes.ping_master(self.opts, timeout)

    async def probe_token_store(self) -> None:
        """Write, read, remove an unusable entry in the token store (readiness)."""
        await self.call(lambda: probes.probe_token_store(self.loadauth()))

    def valid_minion_id(self, mid: str) -> bool:
        return bool(salt.utils.verify.valid_id(self.opts, mid))

    def pool_stats(self) -> dict[str, dict[str, int]]:
        """Size and started threads of each pool. ``ThreadPoolExecutor`` has no public
        accessor for either, so its private attributes are read here, and only here."""
        return {
            name: {"size": pool._max_workers, "threads": len(pool._threads)}
            for name, pool in (
                ("salt", self.pool),
                ("auth", self.auth_pool),
                ("token", self.token_reader.pool),
            )
        }

    def shutdown(self) -> None:
        self.firer.close()
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.auth_pool.shutdown(wait=False, cancel_futures=True)
        self.token_reader.shutdown()


def _notice_done(notice: asyncio.Future[bool]) -> None:
    if not notice.cancelled():
        notice.exception()  # retrieved: logged by announce_revocation, not by asyncio


def _loadauth(opts: dict[str, Any]) -> salt.auth.LoadAuth:
    loadauth = salt.auth.LoadAuth(opts)
    loadauth.auth = KnownMisses(loadauth.auth)
    loadauth.time_auth = functools.partial(_check_eauth, loadauth)
    return loadauth


def _check_eauth(loadauth: Any, load: dict[str, Any]) -> Any:
    """``LoadAuth.time_auth`` without its wait after a failure (see
    :mod:`salt_ext_rest.auth.failure_delay`); the check's time is kept for that wait."""
    started = time.monotonic()
    # The eauth check time_auth wraps: a private method of Salt's LoadAuth.
    result = loadauth._LoadAuth__auth_call(load)
    loadauth.rest_ext_check_seconds = time.monotonic() - started
    return result
