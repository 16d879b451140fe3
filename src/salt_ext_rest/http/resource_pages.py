"""``GET /minions`` and ``GET /keys`` with paging parameters (``limit``, ``cursor``
and a filter): the same bodies as without them, for one page, with ``next``.

* ``/minions?limit=100&grain=os:Ubuntu``: ``{"return": [{id: grains}], "next": …}``,
  minions in id order (:mod:`salt_ext_rest.backend.minion_pages`);
* ``/keys?limit=100&status=accepted``: ``{"return": {"minions": [...], "minions_pre":
  [...], "minions_rejected": [...], "minions_denied": [...]}, "next": …}``, by status
  then id (the master's own ``local`` keys are not paged).
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from typing import Any

from salt_ext_rest.errors import BadRequest
from salt_ext_rest.http import paging

MINION_PARAMS = frozenset({"limit", "cursor", "grain"})
KEY_PARAMS = frozenset({"limit", "cursor", "status"})
DEFAULT_LIMIT = 100
#: ``status`` values → the lists of ``key.list_all``, in page order
KEY_STATUSES = {
    "accepted": "minions",
    "pending": "minions_pre",
    "rejected": "minions_rejected",
    "denied": "minions_denied",
}


def wants_minion_page(arguments: paging.Arguments) -> bool:
    return not MINION_PARAMS.isdisjoint(arguments)


def wants_key_page(arguments: paging.Arguments) -> bool:
    return not KEY_PARAMS.isdisjoint(arguments)


def minion_query(arguments: paging.Arguments) -> tuple[str | None, int, str | None]:
    """``(after, limit, grain)`` of a ``/minions`` page request."""
    grain = paging.one(arguments, "grain")
    if grain is not None and ":" not in grain:
        raise BadRequest("grain: a grain match such as os:Ubuntu", path="grain")
    after = paging.decode_cursor("m1", arguments)
    return after, paging.limit(arguments, DEFAULT_LIMIT), grain


def minion_body(
    found: dict[str, Any], more: str | None, prefix: str, arguments: paging.Arguments
) -> dict[str, Any]:
    return {"return": [found], "next": _next(prefix, "/minions", arguments, "m1", more)}


def key_body(keys: Mapping[str, Any], prefix: str, arguments: paging.Arguments) -> dict[str, Any]:
    """One page of ``key.list_all``'s answer."""
    status = paging.one(arguments, "status")
    if status is not None and status not in KEY_STATUSES:
        raise BadRequest(f"status: one of {', '.join(KEY_STATUSES)}", path="status")
    size = paging.limit(arguments, DEFAULT_LIMIT)
    after = paging.decode_cursor("k1", arguments)
    names = [KEY_STATUSES[status]] if status else list(KEY_STATUSES.values())
    pairs = [
        (rank, mid)
        for rank, name in enumerate(names)
        for mid in sorted(keys.get(name) or [])
        if isinstance(mid, str)
    ]
    start = 0 if after is None else _after(pairs, after)
    page = pairs[start : start + size]
    body: dict[str, list[str]] = {name: [] for name in names}
    for rank, mid in page:
        body[names[rank]].append(mid)
    more = f"{page[-1][0]}/{page[-1][1]}" if start + size < len(pairs) else None
    return {"return": body, "next": _next(prefix, "/keys", arguments, "k1", more)}


def _after(pairs: list[tuple[int, str]], after: str) -> int:
    """Index of the first pair after the cursor's ``rank/minion``."""
    rank, _, mid = after.partition("/")
    if not rank.isdigit():
        raise BadRequest("cursor: not a cursor this resource gave", path="cursor")
    return bisect.bisect_right(pairs, (int(rank), mid))


def _next(
    prefix: str, path: str, arguments: paging.Arguments, kind: str, more: str | None
) -> str | None:
    if more is None:
        return None
    names = MINION_PARAMS if path == "/minions" else KEY_PARAMS
    return paging.next_url(prefix, path, arguments, names, paging.encode_cursor(kind, more))
