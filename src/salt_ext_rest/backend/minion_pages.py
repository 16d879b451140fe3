"""A page of ``GET /minions``: accepted minions in id order, their cached grains,
optionally only those whose grains match (Salt's grain matching, ``G@``). Blocking:
runs on the gateway's executor.

The caller's right is checked as for the unpaged ``GET /minions`` (``grains.items``
on ``*``). Only the page's minions are read from the cache (with a grain match, as
many as it takes to fill the page); a minion with nothing cached shows ``{}`` (the
unpaged view runs a ``grains.items`` job for those; the paged view never does). The
list of accepted minions is reused for :data:`LIST_TTL` seconds: a new key shows up
in the pages within that time.
"""

from __future__ import annotations

import bisect
import threading
import time
from typing import TYPE_CHECKING, Any

import salt.utils.data

from salt_ext_rest.backend import acl, minion_cache

if TYPE_CHECKING:
    from salt_ext_rest.backend.gateway import SaltGateway

#: minions read from the cache at a time while a grain match fills a page
CHUNK = 200
#: seconds the sorted list of accepted minions is reused (Salt's key listing checks
#: every key file's path: about a second for 5,000 minions)
LIST_TTL = 5.0
_lists: dict[int, tuple[float, list[str]]] = {}
_lock = threading.Lock()


def accepted(gateway: SaltGateway) -> list[str]:
    """The minions ``*`` targets, sorted; listed again after :data:`LIST_TTL`."""
    now = time.monotonic()
    with _lock:
        held = _lists.get(id(gateway.opts))
    if held is not None and now - held[0] < LIST_TTL:
        return held[1]
    minions = sorted(gateway.ckminions().check_minions("*", "glob").get("minions", []))
    with _lock:
        _lists[id(gateway.opts)] = (now, minions)
    return minions


def minion_page(
    gateway: SaltGateway, tdata: dict[str, Any], after: str | None, limit: int, grain: str | None
) -> tuple[dict[str, Any], str | None]:
    """``({minion: grains} for the page, the last minion when more follow)``."""
    minions = accepted(gateway)
    acl.authorize_grains(gateway, tdata, "*", minions)
    index = bisect.bisect_right(minions, after) if after is not None else 0
    found: dict[str, Any] = {}
    while index < len(minions) and len(found) <= limit:
        size = limit + 1 - len(found) if grain is None else CHUNK
        chunk = minions[index : index + size]
        index += len(chunk)
        grains = minion_cache.read_grains(gateway.opts, chunk)
        for mid in chunk:
            data = grains.get(mid, {})
            if grain is None or salt.utils.data.subdict_match(data, grain):
                found[mid] = data
                if len(found) > limit:
                    break
    if len(found) <= limit:
        return found, None
    page = dict(list(found.items())[:limit])
    return page, next(reversed(page))
