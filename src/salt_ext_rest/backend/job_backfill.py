"""Fill the job index from the master's job cache (the writer thread of :mod:`.job_index`).

Run each time a worker becomes the index's writer: at start, and when it takes over
from a writer that died. Through Salt's returner API (``<master_job_cache>.get_jids``
/ ``get_load`` / ``get_jid``):

1. the jobs the index lacks, newest first, in chunks (live events are written
   between chunks);
2. the returns of recent jobs the index holds as unfinished (fewer returns than
   targeted minions, or a runner without its return): what came while nobody wrote
   (the previous writer's last moments, a restart) is in the job cache.

Writes are upserts, so reading what the index already has does no harm.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from typing import Any, Protocol

from salt_ext_rest.backend import job_store
from salt_ext_rest.backend.job_cache import cache_functions
from salt_ext_rest.backend.job_store import JobRow
from salt_ext_rest.backend.job_values import jid_time, job_failed, target_text, text

log = logging.getLogger(__name__)

BACKFILL_CHUNK = 500
#: unfinished jobs re-read at most, newest first (a job cache keeps them for a day)
REFRESH_MAX = 5000
DAY = 86400.0

Returns = list[tuple[str, str, bool]]


class JobIndex(Protocol):
    """What a backfill needs of :class:`.job_index.JobIndex`."""

    opts: dict[str, Any]
    utc: bool
    backfilled: int

    def clean_args(self, args: Any) -> list[Any]: ...
    def stopping(self) -> bool: ...
    def flush(self) -> int: ...


def backfill(index: JobIndex, db: sqlite3.Connection) -> None:
    """Index what the job cache has and the index lacks (see the module)."""
    returner = cache_functions(index.opts, "get_jids", "get_load", "get_jid")
    if returner is None:
        log.warning("rest_ext: the job cache cannot list jobs; the index starts empty")
        job_store.set_meta(db, "backfilled", str(time.time()))
        return
    get_jids, get_load, get_jid = returner
    jobs = get_jids() or {}
    missing = sorted(set(jobs) - job_store.known_jids(db), reverse=True)
    for start in range(0, len(missing), BACKFILL_CHUNK):
        if index.stopping():
            return
        chunk = missing[start : start + BACKFILL_CHUNK]
        rows, returns = read_cache(index, chunk, jobs, get_load, get_jid)
        index.backfilled += job_store.write(db, rows, returns)
        index.flush()
    refreshed = refresh_unfinished(index, db, get_jid)
    job_store.set_meta(db, "backfilled", str(time.time()))
    log.info(
        "rest_ext: job index backfilled %d jobs and re-read %d unfinished ones from the job cache",
        len(missing),
        refreshed,
    )


def refresh_unfinished(index: JobIndex, db: sqlite3.Connection, get_jid: Any) -> int:
    """Re-read the returns of the unfinished jobs of the job cache's retention."""
    keep = index.opts.get("keep_jobs_seconds") or DAY
    jids = job_store.unfinished(db, time.time() - float(keep), REFRESH_MAX)
    for start in range(0, len(jids), BACKFILL_CHUNK):
        if index.stopping():
            break
        returns: Returns = []
        for jid in jids[start : start + BACKFILL_CHUNK]:
            returns.extend(_returns(jid, get_jid))
        if returns:
            index.backfilled += job_store.write(db, [], returns)
        index.flush()
    return len(jids)


def read_cache(
    index: JobIndex, jids: list[str], jobs: dict[str, Any], get_load: Any, get_jid: Any
) -> tuple[list[JobRow], Returns]:
    rows: list[JobRow] = []
    returns: Returns = []
    for jid in jids:
        job = jobs.get(jid) or {}
        load = get_load(jid) or {}
        fun = text(job.get("Function", load.get("fun", "")))
        kind = (
            "run" if fun.startswith("runner.") else "wheel" if fun.startswith("wheel.") else "job"
        )
        rows.append(JobRow(
            jid=jid, kind=kind, fun=fun, args=index.clean_args(job.get("Arguments", [])),
            tgt=target_text(job.get("Target", "")), tgt_type=text(job.get("Target-type", "")),
            user=text(job.get("User", "")), started=jid_time(jid, index.utc),
            minions=[m for m in load.get("Minions", []) if isinstance(m, str)],
        ))  # fmt: skip
        returns.extend(_returns(jid, get_jid))
    return rows, returns


def _returns(jid: str, get_jid: Any) -> Returns:
    return [
        (jid, mid, job_failed(ret) if isinstance(ret, dict) else False)
        for mid, ret in (get_jid(jid) or {}).items()
    ]
