"""``wheel`` calls run by Salt's master, as rest_cherrypy's are, through the worker's one
request channel (:class:`~salt_ext_rest.backend.publisher.Publisher`).

rest_ext runs wheel functions itself (:mod:`~salt_ext_rest.backend.dispatch`) because
Salt's master checks a wheel call's ``kwarg`` but runs its top-level keys. That
mismatch matters only to an ACL that restricts arguments: for one whose verdict no
argument can change (:func:`~salt_ext_rest.backend.acl.arguments_matter` is false) the
master's check is the same verdict rest_ext's policy reached, and a load holding both
``arg`` and ``kwarg`` runs exactly those (Salt's ``SyncClientMixin.low``). Such calls
are sent to the master: it authenticates the token, checks the ACL, runs the function
and stores the job, so the API pays for none of Salt's wheel machinery (a wheel client,
its job-cache write, a master event per call: ~25 ms of CPU per call when run here).
The arguments are bound as :func:`~salt_ext_rest.backend.callargs.wheel_call` binds
them, on the loop when the function's module is loaded already (else on the executor).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import salt.loader
import salt.utils.error

from salt_ext_rest.backend import acl, callargs

#: Salt's timeout of a wheel's ``master_call`` (the request channel's default)
SEND_TIMEOUT = 60


class MasterWheel:
    def __init__(self, gateway: Any, publisher: Any) -> None:
        self.gateway = gateway
        self.publisher = publisher
        self.opts: dict[str, Any] = gateway.opts
        self._functions: Any = None  # the worker's wheel loader, shared under _lock
        self._lock = threading.Lock()

    def handles(self, chunk: dict[str, Any]) -> bool:
        """A ``wheel`` chunk whose caller's ACL (as cached beside its token) has no
        argument restriction; anything else runs as before."""
        if chunk.get("client") != "wheel" or not isinstance(chunk.get("token"), str):
            return False
        auth_list = self.gateway.token_cache.acl(chunk["token"])
        return auth_list is not None and not acl.arguments_matter(auth_list)

    async def run(self, chunk: dict[str, Any]) -> Any:
        """Salt's master's answer, ``{tag, data}``; raises Salt's error as it gives it."""
        args, kwargs = self._bind_here(chunk) or await self.gateway.call(self._bind, chunk)
        load = {"cmd": "wheel", "fun": chunk["fun"], "arg": args, "kwarg": kwargs}
        load.update({k: chunk[k] for k in ("token", "eauth") if k in chunk})
        ret = await self.publisher.send(load, SEND_TIMEOUT)
        if isinstance(ret, Mapping) and "error" in ret:
            salt.utils.error.raise_error(**ret["error"])
        return ret

    def _bind_here(self, chunk: dict[str, Any]) -> tuple[list[Any], dict[str, Any]] | None:
        """The arguments, on the loop: only when ``fun`` is loaded (a dict look-up in
        Salt's private loader dict) and no thread uses the loader; else ``None``."""
        loaded = getattr(self._functions, "_dict", None)
        if not isinstance(loaded, dict) or chunk["fun"] not in loaded:
            return None
        if not self._lock.acquire(blocking=False):
            return None
        try:
            return callargs.wheel_call(self.opts, chunk, self._functions)
        finally:
            self._lock.release()

    def _bind(self, chunk: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
        with self._lock:  # on the executor: may load the function's module
            if self._functions is None:
                self._functions = salt.loader.wheels(self.opts)
            return callargs.wheel_call(self.opts, chunk, self._functions)
