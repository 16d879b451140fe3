"""Which events a caller may see (REFERENCE.md S3).

``all`` (the compatible default) shows every event to every authenticated caller.
``acl`` shows job events only for functions and targets the caller's eauth ACL
allows, or for the caller's own jobs; runner and wheel job events only to callers
allowed that function (``@runner``/``@wheel`` entries) or their own; other events
(presence, keys, auth) to every authenticated caller. Stream notices always pass.

A policy is asked once per stream (``prepare``, which may do blocking work on the
gateway's executor) and returns a cheap predicate the bus applies to every event.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import salt.utils.minions

from salt_ext_rest.auth.identity import Identity
from salt_ext_rest.events.subscription import BusEvent

if TYPE_CHECKING:
    from salt_ext_rest.context import ApiContext

Predicate = Callable[[BusEvent], bool]


class VisibilityPolicy(Protocol):
    name: str

    async def prepare(self, identity: Identity) -> Predicate:
        """Return the predicate deciding, per event, what ``identity`` may see."""
        ...


class ShowAll:
    name = "all"

    def __init__(self, context: ApiContext) -> None:
        self.context = context

    async def prepare(self, identity: Identity) -> Predicate:
        return lambda event: True


class AclVisibility:
    name = "acl"

    def __init__(self, context: ApiContext) -> None:
        self.context = context
        self._ckminions_instance: salt.utils.minions.CkMinions | None = None

    @property
    def _ckminions(self) -> salt.utils.minions.CkMinions:
        if self._ckminions_instance is None:
            self._ckminions_instance = salt.utils.minions.CkMinions(self.context.opts)
        return self._ckminions_instance

    async def prepare(self, identity: Identity) -> Predicate:
        gateway = self.context.gateway
        load = {"eauth": identity.eauth, "username": identity.name}
        auth_list = await gateway.call(
            lambda: gateway.loadauth().get_auth_list(load, token=identity.token_data())
        )
        allowed = functools.lru_cache(maxsize=4096)(
            functools.partial(self._allowed, list(auth_list or []))
        )

        def visible(event: BusEvent) -> bool:
            parts = event.tag.split("/")
            if event.notice or len(parts) < 3 or parts[0] != "salt":
                return True
            if parts[1] not in ("job", "run", "wheel"):
                return True
            if event.data.get("user") == identity.name:
                return True
            fun = event.data.get("fun")
            if not isinstance(fun, str):
                return False
            return allowed(parts[1], fun, tuple(sorted(_job_minions(parts, event.data))))

        return visible

    def _allowed(self, auth_list: list[Any], kind: str, fun: str, mids: tuple[str, ...]) -> bool:
        if kind == "job":
            check = self._ckminions.auth_check
            return bool(mids) and all(
                check(auth_list, fun, [], mid, "list", minions=[mid]) for mid in mids
            )
        form = "runner" if kind == "run" else "wheel"
        name = fun.split(".", 1)[1] if fun.startswith(f"{form}.") else fun
        result = self._ckminions.spec_check(auth_list, name, {}, form)
        return bool(result) and not isinstance(result, dict)


def _job_minions(parts: list[str], data: dict[str, Any]) -> set[str]:
    if len(parts) >= 5 and parts[3] == "ret":
        return {parts[4]}
    minions = data.get("minions")
    return {m for m in minions if isinstance(m, str)} if isinstance(minions, list) else set()
