"""``GET /jobs`` with paging parameters: newest first, from the job index.

Without any of :data:`PARAMS` ``GET /jobs`` stays rest_cherrypy's ``jobs.list_jobs``.
With one, it answers a page of the index (:mod:`salt_ext_rest.backend.job_index`):
``{"return": [item, ...], "next": url | null, "complete": bool}`` and, when there is
more, a ``Link: <url>; rel="next"`` header. A caller sees the jobs the event
visibility policy shows it (``event_visibility``): the same rules as on ``/events``.
"""

from __future__ import annotations

import datetime
import functools
import json
import re
import time
from collections.abc import Mapping
from typing import Any

from salt_ext_rest.auth.identity import Identity
from salt_ext_rest.backend import job_store
from salt_ext_rest.backend.job_index import JobIndex
from salt_ext_rest.errors import BadRequest, RestError
from salt_ext_rest.events.model import BusEvent
from salt_ext_rest.events.visibility import Predicate, SeeAll
from salt_ext_rest.http import paging

PARAMS = frozenset(
    {"limit", "cursor", "function", "user", "target", "target_type", "start", "end", "status"}
)
DEFAULT_LIMIT = 50
CURSOR = "j1"
#: rows one request examines for a restricted caller before it answers a short page
#: (with a ``next`` link that continues the scan)
SCAN_CAP = 5000
#: a job with minions yet to return counts as running this long after its start
RUNNING_WINDOW = 3600.0
STATUSES = ("running", "finished", "failed")
_JID = re.compile(r"^[0-9A-Za-z_.-]{1,64}$")
_RUNNING = "(returned < targeted AND started >= ?)"
_FUNCTION = "fun GLOB ?"
#: a function glob matching more jobs than this is checked walking jids newest first
#: (the page fills early); a narrower one through the function index, then sorted
BROAD = 2000


class IndexDisabled(RestError):
    status = 501


def wants_page(arguments: Mapping[str, Any]) -> bool:
    return not PARAMS.isdisjoint(arguments)


def parse_time(name: str, value: str) -> float:
    """Epoch seconds, or ISO 8601 (a time without zone is UTC)."""
    try:
        return float(value)
    except ValueError:
        pass
    try:
        stamp = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise BadRequest(f"{name}: an ISO 8601 time or epoch seconds", path=name) from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=datetime.timezone.utc)
    return stamp.timestamp()


def parse_query(
    arguments: Mapping[str, list[bytes]],
) -> tuple[int, str | None, list[str], list[Any]]:
    """``(limit, before jid, where clauses, parameters)``; 400 on a bad value."""
    size = paging.limit(arguments, DEFAULT_LIMIT)
    before = paging.decode_cursor(CURSOR, arguments)
    if before is not None and not _JID.match(before):
        raise BadRequest("cursor: not a cursor this resource gave", path="cursor")
    where: list[str] = []
    params: list[Any] = []
    for name, clause in (("function", _FUNCTION), ("user", "user = ?"),
                         ("target", "tgt = ?"), ("target_type", "tgt_type = ?")):  # fmt: skip
        value = paging.one(arguments, name)
        if value:
            where.append(clause)
            params.append(value)
    for name, clause in (("start", "started >= ?"), ("end", "started < ?")):
        value = paging.one(arguments, name)
        if value:
            where.append(clause)
            params.append(parse_time(name, value))
    status = paging.one(arguments, "status")
    if status:
        if status not in STATUSES:
            raise BadRequest(f"status: one of {', '.join(STATUSES)}", path="status")
        if status == "failed":
            where.append("failed > 0")
        else:
            where.append(_RUNNING if status == "running" else f"NOT {_RUNNING}")
            params.append(time.time() - RUNNING_WINDOW)
    return size, before, where, params


def visible_job(visible: Predicate, row: Mapping[str, Any]) -> bool:
    """Would the caller see this job's ``new`` event on ``/events``?"""
    data = {"fun": row["fun"], "user": row["user"], "minions": row["minions"]}
    return visible(BusEvent("", f"salt/{row['kind']}/{row['jid']}/new", data))


async def find_page(
    index: JobIndex, arguments: Mapping[str, list[bytes]], visible: Predicate
) -> tuple[list[dict[str, Any]], str | None]:
    """The page's rows and the jid the next page starts below (``None``: no more)."""
    limit, before, where, params = parse_query(arguments)
    unrestricted = isinstance(visible, SeeAll)
    batch = limit + 1 if unrestricted else max(200, 2 * limit)
    found: list[dict[str, Any]] = []
    scanned = 0
    while True:
        rows = await index.read(functools.partial(_query, where, params, before, batch))
        for row in rows or ():
            scanned += 1
            row["minions"] = json.loads(row["minions"])
            if unrestricted or visible_job(visible, row):
                found.append(row)
                if len(found) > limit:
                    return found[:limit], found[limit - 1]["jid"]
        if not rows or len(rows) < batch:
            return found, None
        before = rows[-1]["jid"]
        if scanned >= SCAN_CAP:
            return found, before


def _query(
    where: list[str], params: list[Any], before: str | None, n: int, db: Any
) -> list[dict[str, Any]]:
    """The page's query, planned for 100,000 jobs as for 1,000: a broad function glob
    walks jids newest first (it fills the page early), a narrow one uses its index;
    ``status=running`` reads the recent jobs through the start-time index."""
    clauses = list(where)
    if _FUNCTION in clauses:
        at = clauses.index(_FUNCTION)  # the first clause: its parameter is params[at]
        if job_store.count_functions(db, params[at]) > BROAD:
            clauses[at] = "+" + _FUNCTION
    return job_store.query(db, clauses, params, before, n, few=_RUNNING in clauses)


def item(row: Mapping[str, Any], now: float) -> dict[str, Any]:
    """One job as the page shows it."""
    targeted, returned = row["targeted"], row["returned"]
    running = returned < targeted and row["started"] >= now - RUNNING_WINDOW
    left = max(targeted - returned, 0)
    started = datetime.datetime.fromtimestamp(row["started"], datetime.timezone.utc)
    return {
        "jid": row["jid"],
        "function": row["fun"],
        "arguments": json.loads(row["args"]),
        "target": row["tgt"],
        "target_type": row["tgt_type"],
        "user": row["user"],
        "started": started.isoformat().replace("+00:00", "Z"),
        "status": "running" if running else "finished",
        "minions": {
            "targeted": targeted,
            "returned": returned,
            "failed": row["failed"],
            "pending": left if running else 0,
            "missing": 0 if running else left,
        },
    }


def next_url(prefix: str, arguments: paging.Arguments, jid: str) -> str:
    cursor = paging.encode_cursor(CURSOR, jid)
    return paging.next_url(prefix, "/jobs", arguments, PARAMS, cursor)


async def jobs_page(
    index: JobIndex | None,
    visibility: Any,
    identity: Identity,
    arguments: Mapping[str, list[bytes]],
    prefix: str,
) -> dict[str, Any]:
    """The body of ``GET /jobs?limit=...`` for ``identity``."""
    if index is None:
        raise IndexDisabled("The job index is disabled (job_index: false): page without it")
    visible = await visibility.prepare(identity)
    rows, more = await find_page(index, arguments, visible)
    complete = await index.read(lambda db: job_store.get_meta(db, "backfilled") is not None)
    now = time.time()
    return {
        "return": [item(row, now) for row in rows],
        "next": next_url(prefix, arguments, more) if more else None,
        "complete": bool(complete),
    }
