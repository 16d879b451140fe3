"""The master's minion data cache and key list, read without a job.

``GET /minions`` and the formatted view read minions' grains from the cache Salt's
master keeps (Salt 3008's ``grains`` bank, else 3007's ``minions/<id>`` ``data``).
Everything here blocks and runs on the gateway's executor.
"""

from __future__ import annotations

import logging
from typing import Any

import salt.cache
import salt.key

from salt_ext_rest.backend.threadlocal import per_thread

log = logging.getLogger(__name__)

#: the function a cache read stands for, as far as the eauth ACL is concerned
FUN = "grains.items"


def _cache(opts: dict[str, Any]) -> Any:
    return per_thread(opts, "minion_cache", salt.cache.factory)


def cached_grains(cache: Any, mid: str) -> dict[str, Any] | None:
    """A minion's cached grains (Salt 3008's ``grains`` bank, else 3007's ``minions/<id>``)."""
    grains = cache.fetch("grains", mid)
    if isinstance(grains, dict) and grains:
        return grains
    legacy = cache.fetch(f"minions/{mid}", "data")
    if isinstance(legacy, dict) and isinstance(legacy.get("grains"), dict) and legacy["grains"]:
        return legacy["grains"]
    return None


def grains_of(opts: dict[str, Any], minions: list[str]) -> tuple[dict[str, Any], list[str]]:
    """``({minion: cached grains}, [minions with nothing cached])``; a cache error fails."""
    if not opts.get("minion_data_cache", True):
        return {}, list(minions)
    cache = _cache(opts)
    found: dict[str, Any] = {}
    missing: list[str] = []
    for mid in minions:
        grains = cached_grains(cache, mid)
        if grains is None:
            missing.append(mid)
        else:
            found[mid] = grains
    return found, missing


def read_grains(opts: dict[str, Any], mids: list[str]) -> dict[str, dict[str, Any]]:
    """Cached grains per minion; minions without cached grains, or whose entry cannot
    be read, are left out (the formatted view never fails on one bad entry)."""
    if not opts.get("minion_data_cache", True):
        return {}
    cache, found = _Tolerant(_cache(opts)), {}
    for mid in mids:
        grains = cached_grains(cache, mid)
        if grains:
            found[mid] = grains
    return found


class _Tolerant:
    """A cache whose failed reads are empty (logged), not errors."""

    def __init__(self, cache: Any) -> None:
        self.cache = cache

    def fetch(self, bank: str, key: str) -> Any:
        try:
            return self.cache.fetch(bank, key)
        except Exception:
            log.debug("rest_ext: cache fetch %s/%s failed", bank, key, exc_info=True)
            return {}


def read_minions(opts: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Accepted minion ids → cached grains (``{}`` when none are cached)."""
    accepted = salt.key.get_key(opts).list_keys().get("minions", [])
    grains = read_grains(opts, list(accepted))
    return {mid: grains.get(mid, {}) for mid in accepted}
