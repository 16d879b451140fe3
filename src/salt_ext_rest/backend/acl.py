"""Every check of a caller's eauth ACL, in one place.

:func:`is_unrestricted` reads an ACL without Salt: a caller with unrestricted
permissions may do anything through Salt already, so the extra limits rest_ext puts
on restricted callers (a caller-chosen ``jid``, the event streams' visibility rules)
do not apply to them. For everything else Salt's own functions decide
(:class:`~salt.utils.minions.CkMinions`, :class:`~salt.acl.PublisherACL`,
``LoadAuth.get_auth_list``), so rest_ext allows exactly what Salt's master would.
The functions taking a gateway block and run on its executor; the ACL itself is read
fresh from the master's configuration.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

import salt.acl
import salt.exceptions
import salt.utils.minions
import salt.utils.stringutils

from salt_ext_rest.auth.identity import Identity
from salt_ext_rest.backend import callargs
from salt_ext_rest.backend.minion_cache import FUN as GRAINS_FUN
from salt_ext_rest.errors import Forbidden

#: a function or target pattern that matches everything
EVERYTHING = ("*", ".*")
#: the three kinds of rights an unrestricted ACL holds, and how each may be written
_KINDS = {
    "functions": EVERYTHING,
    "@runner": ("@runner", "@runners"),
    "@wheel": ("@wheel", "@wheels"),
}


def _all_of(value: Any) -> bool:
    """``'.*'``, or a list naming ``'.*'`` (argument restrictions are dicts: not all)."""
    values = value if isinstance(value, list) else [value]
    return any(v in EVERYTHING for v in values)


def _kind(entry: Any) -> str | None:
    """The kind of right ``entry`` grants without restriction, or ``None``."""
    if isinstance(entry, dict) and len(entry) == 1:
        ((key, value),) = entry.items()
        entry = key if _all_of(value) else None
    for kind, names in _KINDS.items():
        if entry in names:
            return kind
    return None


def is_unrestricted(auth_list: Iterable[Any] | None) -> bool:
    """Does the ACL allow every function on every minion, every runner and every wheel?

    That is: a ``'.*'`` (or ``'*'``) entry, or a ``{'*' or '.*': ['.*']}`` target entry;
    and ``'@runner'`` and ``'@wheel'`` (or ``'@runners'``, ``'@wheels'``), bare or as
    ``{'@runner': ['.*']}``; none with argument restrictions. SaltGUI's usual admin
    ACL, ``['.*', '@runner', '@wheel', '@jobs']``, qualifies.
    """
    return {_kind(entry) for entry in auth_list or ()} >= set(_KINDS)


class SaltGateway(Protocol):
    """This thread's Salt objects for the master's ``opts`` (the gateway is one)."""

    opts: dict[str, Any]

    def loadauth(self) -> Any: ...

    def ckminions(self) -> Any: ...


def expr_match(text: str, pattern: str) -> bool:
    """Salt's ACL pattern match: exact, glob or regular expression."""
    return bool(salt.utils.stringutils.expr_match(text, pattern))


def auth_list(gateway: SaltGateway, identity: Identity) -> list[Any]:
    """The ACL Salt enforces for the caller (user, ``*`` and group entries)."""
    load = {"eauth": identity.eauth, "username": identity.name}
    return gateway.loadauth().get_auth_list(load, token=identity.token_data()) or []


def spec_allowed(
    gateway: SaltGateway,
    acl: list[Any],
    fun: str,
    args: list[Any],
    kwargs: dict[str, Any],
    form: str,
) -> bool:
    """Does ``acl`` allow the runner/wheel function ``fun`` with exactly these arguments?"""
    result = gateway.ckminions().spec_check(acl, fun, {"arg": args, "kwarg": kwargs}, form)
    return bool(result) and not (isinstance(result, dict) and "error" in result)


def arguments_matter(auth_list: Iterable[Any]) -> bool:
    """Could Salt's runner/wheel check of this ACL depend on a call's arguments?

    ``spec_check`` reads arguments only through an ``{'@runner'|'@wheel'|'@<module>':
    [..., {fun: {args, kwargs}}]}`` condition; an ACL without one (as SaltGUI's admin
    ACL, or ``['@runner']``) decides on the function's name alone. Anything unusual
    (a key that is not a string) counts as mattering: the exact check then runs.
    """
    for entry in auth_list:
        if not isinstance(entry, dict):
            continue
        for key, value in entry.items():
            if not isinstance(key, str):
                return True
            if not key.startswith("@"):
                continue  # a target entry: spec_check never reads it
            conditions = value if isinstance(value, list) else [value]
            if any(not isinstance(cond, str) for cond in conditions):
                return True
    return False


def name_allowed(ckminions: Any, auth_list: list[Any], fun: str, form: str) -> bool:
    """:func:`spec_allowed` for an ACL whose verdict no argument can change
    (:func:`arguments_matter` is false): pure, no Salt loader, cheap enough for the loop."""
    result = ckminions.spec_check(auth_list, fun, {"arg": [], "kwarg": {}}, form)
    return bool(result) and not (isinstance(result, dict) and "error" in result)


def call_allowed(
    gateway: SaltGateway, identity: Identity, chunk: dict[str, Any], form: str
) -> bool:
    """A runner or wheel chunk, with the arguments it will really run with."""
    call = callargs.wheel_call if form == "wheel" else callargs.runner_call
    args, kwargs = call(gateway.opts, chunk)
    return spec_allowed(gateway, auth_list(gateway, identity), chunk["fun"], args, kwargs, form)


def ssh_allowed(gateway: SaltGateway, identity: Identity, chunk: dict[str, Any]) -> bool:
    """As Salt's netapi authorizes ``ssh``: the ACL against the roster's targets."""
    opts = {**callargs.ssh_opts(gateway.opts), "enable_ssh_minions": True}
    ckminions = salt.utils.minions.CkMinions(opts)
    tgt_type = chunk.get("tgt_type", "glob")
    minions = ckminions.check_minions(chunk["tgt"], tgt_type).get("minions", [])
    args = list(chunk.get("arg") or [])
    if chunk.get("kwarg"):
        args.append({"__kwarg__": True, **chunk["kwarg"]})
    acl = auth_list(gateway, identity)
    return bool(
        ckminions.auth_check(acl, chunk["fun"], args, chunk["tgt"], tgt_type, minions=minions)
    )


def authorize_wheel(gateway: SaltGateway, chunk: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The caller's name and the ``{"arg", "kwarg"}`` low to run, once the ACL allows it.

    Raises Salt's own exceptions, as Salt's master would for a wheel call.
    """
    auth_type = "token" if "token" in chunk else "eauth"
    check = gateway.loadauth().check_authentication(dict(chunk), auth_type)
    if check.get("error"):
        raise salt.exceptions.EauthAuthenticationError(check["error"].get("message"))
    args, kwargs = callargs.wheel_call(gateway.opts, chunk)
    allowed = gateway.ckminions().wheel_check(
        check.get("auth_list", []), chunk["fun"], {"arg": args, "kwarg": kwargs}
    )
    if not allowed or (isinstance(allowed, dict) and "error" in allowed):
        raise salt.exceptions.AuthorizationError("Not authorized to run this wheel function")
    return str(check.get("username", "UNKNOWN")), {"arg": args, "kwarg": kwargs}


def authorize_grains(
    gateway: SaltGateway, tdata: dict[str, Any], tgt: str, minions: list[str]
) -> None:
    """Reading cached grains is authorized as publishing ``grains.items`` to ``tgt``
    would be: the publisher ACL blacklist, then the caller's eauth ACL."""
    name = str(tdata.get("name", ""))
    blacklist = salt.acl.PublisherACL(gateway.opts.get("publisher_acl_blacklist") or {})
    if blacklist.user_is_blacklisted(name) or blacklist.cmd_is_blacklisted(GRAINS_FUN):
        raise Forbidden(f"User {name!r} may not run {GRAINS_FUN}")
    load = {"eauth": tdata.get("eauth"), "username": name}
    acl = gateway.loadauth().get_auth_list(load, token=tdata)
    check = gateway.ckminions().auth_check
    if not check(acl or [], GRAINS_FUN, [], tgt, "glob", minions=minions):
        raise Forbidden(f"User {name!r} may not run {GRAINS_FUN} on {tgt!r}")


def expand_targets(ckminions: Any, acl: list[Any]) -> dict[str, frozenset[str] | None]:
    """Each target of the ACL's ``{target: [functions]}`` entries → the minions it
    matches now (``None``: every minion)."""
    targets: dict[str, frozenset[str] | None] = {}
    for entry in acl:
        if not isinstance(entry, dict):
            continue
        for target in entry:
            if not isinstance(target, str) or target.startswith("@") or target in targets:
                continue
            if target == "*":
                targets[target] = None
            else:
                found = ckminions.check_minions(target, "compound").get("minions", [])
                targets[target] = frozenset(found)
    return targets
