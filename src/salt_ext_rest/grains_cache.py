"""Grains for ``GET /minions`` from the master's minion data cache, without a job.

Reading the cache is authorized exactly as publishing ``grains.items`` to the same
target would be: the publisher ACL blacklist, then the caller's eauth ACL through
Salt's own :meth:`~salt.utils.minions.CkMinions.auth_check` (what the master checks
for a publish). Everything here blocks and runs on the gateway's executor.
"""

from __future__ import annotations

import threading
from typing import Any

import salt.acl
import salt.cache

from salt_ext_rest.errors import Forbidden
from salt_ext_rest.gateway import SaltGateway

FUN = "grains.items"

_local = threading.local()


def _cache(opts: dict[str, Any]) -> Any:
    if getattr(_local, "cache", None) is None:
        _local.cache = salt.cache.factory(opts)
    return _local.cache


def cached_grains(cache: Any, mid: str) -> dict[str, Any] | None:
    """A minion's cached grains (Salt 3008's ``grains`` bank, else 3007's ``minions/<id>``)."""
    grains = cache.fetch("grains", mid)
    if isinstance(grains, dict) and grains:
        return grains
    legacy = cache.fetch(f"minions/{mid}", "data")
    if isinstance(legacy, dict) and isinstance(legacy.get("grains"), dict) and legacy["grains"]:
        return legacy["grains"]
    return None


def _authorize(gateway: SaltGateway, tdata: dict[str, Any], tgt: str, minions: list) -> None:
    opts = gateway.opts
    name = str(tdata.get("name", ""))
    acl = salt.acl.PublisherACL(opts.get("publisher_acl_blacklist") or {})
    if acl.user_is_blacklisted(name) or acl.cmd_is_blacklisted(FUN):
        raise Forbidden(f"User {name!r} may not run {FUN}")
    load = {"eauth": tdata.get("eauth"), "username": name}
    auth_list = gateway.loadauth().get_auth_list(load, token=tdata)
    allowed = gateway.ckminions().auth_check(auth_list or [], FUN, [], tgt, "glob", minions=minions)
    if not allowed:
        raise Forbidden(f"User {name!r} may not run {FUN} on {tgt!r}")


def targeted_grains(
    gateway: SaltGateway, tdata: dict[str, Any], tgt: str
) -> tuple[dict[str, Any], list[str]]:
    """``({minion: cached grains}, [targeted minions with nothing cached])``."""
    minions = sorted(gateway.ckminions().check_minions(tgt, "glob").get("minions", []))
    _authorize(gateway, tdata, tgt, minions)
    if not gateway.opts.get("minion_data_cache", True):
        return {}, minions
    cache = _cache(gateway.opts)
    found: dict[str, Any] = {}
    missing: list[str] = []
    for mid in minions:
        grains = cached_grains(cache, mid)
        if grains is None:
            missing.append(mid)
        else:
            found[mid] = grains
    return found, missing
