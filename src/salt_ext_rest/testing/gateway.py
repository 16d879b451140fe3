"""
A stand-in for Salt and the in-process application built on it: no master, no minions.

:class:`StandInGateway` replaces the Salt gateway: one password (:data:`PASSWORD`) for
every user, an in-memory token store, and lowstate chunks echoed back as
``{"echo": <fun>}`` (and recorded in ``gateway.chunks``). :func:`build_app` puts it
behind the real handlers, plugin manager and config validation, so routes, schemas,
policies and formatters of a plugin can be tested in a fraction of a second.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable
from typing import Any

from salt_ext_rest.assembly import build_context
from salt_ext_rest.auth.identity import Credentials
from salt_ext_rest.backend.dispatch import Dispatcher
from salt_ext_rest.backend.gateway import SaltGateway
from salt_ext_rest.config import load_config
from salt_ext_rest.context import ApiContext
from salt_ext_rest.plugins.manager import make_plugin_manager

#: the one password the stand-in accepts (any user name, any eauth backend).
PASSWORD = "good"

#: master opts of the stand-in: ``local`` and ``runner`` enabled, plain HTTP.
STAND_IN_OPTS: dict[str, Any] = {
    "netapi_enable_clients": ["local", "runner"],
    "external_auth": {"auto": {"*": ["test.*"]}},
    "hash_type": "sha256",
    "sock_dir": "/nonexistent",
    "rest_ext": {"port": 1, "disable_ssl": True, "max_request_body_size": 2048},
}


class StandInGateway(SaltGateway):
    """Salt replaced: one password, an in-memory token store, jobs echoed back."""

    def __init__(self, opts: dict[str, Any]) -> None:
        super().__init__(opts, threads=2, auth_threads=1)
        self.tokens: dict[str, dict[str, Any]] = {}
        self.lookups: list[str] = []
        self.chunks: list[dict[str, Any]] = []

    async def mint_token(self, creds: Credentials, token_expire: Any = None) -> dict[str, Any]:
        if creds.password != PASSWORD:
            return {}
        token = secrets.token_hex(32)
        now = time.time()
        self.tokens[token] = {
            "token": token,
            "name": creds.username,
            "eauth": creds.eauth,
            "start": now,
            "expire": now + 60,
        }
        return {**self.tokens[token], "perms": [".*"]}  # as Salt's: the ACL comes along

    async def get_token(self, token: str) -> dict[str, Any]:
        self.lookups.append(token)
        return self.tokens.get(token, {})

    async def revoke_token(self, token: str) -> None:
        self.tokens.pop(token, None)

    async def permissions(self, tdata: dict[str, Any]) -> list[Any]:
        return ["test.*"]

    async def auth_list(self, identity: Any) -> list[Any]:
        return await self.permissions(identity.token_data())

    async def master_reachable(self) -> bool:
        return True

    async def ping_master(self, timeout: float) -> None:
        return None  # the stand-in master always answers

    async def probe_token_store(self) -> None:
        key = "probe-" + secrets.token_hex(8)  # not a token's form: never usable
        self.tokens[key] = {"token": key, "expire": 0}
        if self.tokens.pop(key, {}).get("token") != key:
            raise RuntimeError("the token store did not return what was written")

    async def call(self, func: Any, *args: Any, **kwargs: Any) -> Any:
        if getattr(func, "__func__", None) is Dispatcher.run:
            self.chunks.append(args[0])
            return {"echo": args[0]["fun"]}
        return func(*args, **kwargs)

    async def login_token(self, username: str = "user", eauth: str = "auto") -> str:
        """A valid token for ``username``, as ``POST /login`` would mint it."""
        creds = Credentials(username=username, password=PASSWORD, eauth=eauth)
        tdata = await self.mint_token(creds)
        return str(tdata["token"])


def build_context_for(
    opts: dict[str, Any],
    gateway: SaltGateway,
    plugins: Iterable[object] = (),
    load_entry_points: bool = False,
) -> ApiContext:
    """
    The application context on ``gateway``: built-ins, ``plugins`` and, with
    ``load_entry_points``, every plugin installed in the environment.
    """
    pm = make_plugin_manager(plugins, load_entry_points=load_entry_points)
    return build_context(opts, load_config(opts), pm=pm, gateway=gateway)
