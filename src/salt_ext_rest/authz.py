"""Authorization (may they?), separate from authentication (who?).

Policies come from the ``rest_policies`` hook and are asked for every chunk after the
caller is authenticated. Salt's master enforces the eauth ACL again on every job.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import salt.utils.minions

from salt_ext_rest import callargs
from salt_ext_rest.acl import is_unrestricted
from salt_ext_rest.auth.identity import Identity
from salt_ext_rest.dispatch import ssh_opts
from salt_ext_rest.errors import Forbidden

if TYPE_CHECKING:
    from salt_ext_rest.context import ApiContext


class Policy(Protocol):
    name: str

    async def check(self, identity: Identity, chunk: dict[str, Any]) -> None:
        """Raise a ``RestError`` (usually :class:`Forbidden`) to deny; return to allow."""
        ...


class SaltAclPolicy:
    """Checks runner, wheel and ssh calls against the caller's eauth ACL before anything runs.

    Gives a clear 403 instead of Salt's generic authentication error, and guards what
    rest_ext runs itself: ``wheel``/``wheel_async`` (with the arguments that will run)
    and ``ssh`` (Salt's netapi cannot read rest_ext's tokens; see :mod:`dispatch`).
    A caller-chosen ``jid`` on ``local*`` is refused unless the ACL is unrestricted.
    """

    name = "salt-acl"
    _FORMS = {
        "runner": "runner",
        "runner_async": "runner",
        "wheel": "wheel",
        "wheel_async": "wheel",
    }

    def __init__(self, context: ApiContext) -> None:
        self.context = context

    async def check(self, identity: Identity, chunk: dict[str, Any]) -> None:
        if chunk["client"].startswith("local") and "jid" in chunk:
            auth_list = await self.context.gateway.call(self._auth_list, identity)
            if not is_unrestricted(auth_list):
                raise Forbidden(
                    f"User {identity.name!r} may not choose a job id (jid): "
                    "only users with unrestricted permissions may"
                )
        if chunk["client"] == "ssh":
            if not await self.context.gateway.call(self._ssh_allowed, identity, chunk):
                raise Forbidden(f"User {identity.name!r} may not run {chunk['fun']!r} over ssh")
            return
        form = self._FORMS.get(chunk["client"])
        if form is None:
            return
        allowed = await self.context.gateway.call(self._allowed, identity, chunk, form)
        if not allowed:
            raise Forbidden(f"User {identity.name!r} may not run {form} function {chunk['fun']!r}")

    def _auth_list(self, identity: Identity) -> list[Any]:
        load = {"eauth": identity.eauth, "username": identity.name}
        loadauth = self.context.gateway.loadauth()
        return loadauth.get_auth_list(load, token=identity.token_data()) or []

    def _allowed(self, identity: Identity, chunk: dict[str, Any], form: str) -> bool:
        opts = self.context.gateway.opts
        call = callargs.wheel_call if form == "wheel" else callargs.runner_call
        args, kwargs = call(opts, chunk)
        return spec_allowed(
            self.context, self._auth_list(identity), chunk["fun"], args, kwargs, form
        )

    def _ssh_allowed(self, identity: Identity, chunk: dict[str, Any]) -> bool:
        """As Salt's netapi authorizes ``ssh``: the ACL against the roster's targets."""
        opts = {**ssh_opts(self.context.gateway.opts), "enable_ssh_minions": True}
        ckminions = salt.utils.minions.CkMinions(opts)
        tgt_type = chunk.get("tgt_type", "glob")
        minions = ckminions.check_minions(chunk["tgt"], tgt_type).get("minions", [])
        args = list(chunk.get("arg") or [])
        if chunk.get("kwarg"):
            args.append({"__kwarg__": True, **chunk["kwarg"]})
        return bool(
            ckminions.auth_check(
                self._auth_list(identity),
                chunk["fun"],
                args,
                chunk["tgt"],
                tgt_type,
                minions=minions,
            )
        )


def spec_allowed(
    context: ApiContext,
    auth_list: list[Any],
    fun: str,
    args: list[Any],
    kwargs: dict[str, Any],
    form: str,
) -> bool:
    """Does ``auth_list`` allow the runner/wheel function ``fun`` with exactly these arguments?"""
    check = context.gateway.ckminions().spec_check
    result = check(auth_list, fun, {"arg": args, "kwarg": kwargs}, form)
    return bool(result) and not (isinstance(result, dict) and "error" in result)


async def authorize(context: ApiContext, identity: Identity, chunks: list[dict[str, Any]]) -> None:
    for chunk in chunks:
        for policy in context.policies:
            await policy.check(identity, chunk)
