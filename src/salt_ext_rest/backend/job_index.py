"""The job index: every job of the master in a SQLite file, for ``GET /jobs`` paging.

Kept current from the worker's one bus subscription (``salt/job/<jid>/new``,
``salt/job/<jid>/ret/<minion>`` and the runner's ``salt/run/...``): the bus hands
each such event to :meth:`JobIndex.on_event`, which only appends a small tuple to
a queue. A writer thread drains the queue every :data:`FLUSH_EVERY` seconds and
writes the batch in one transaction (:mod:`.job_store`). At start the same thread
backfills what the index lacks from the master's job cache through Salt's returner
API (``<master_job_cache>.get_jids`` / ``get_load`` / ``get_jid``), one worker at a
time (a lease in the file). Reads run on a small executor of their own, never on
the IOLoop.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import datetime
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

from salt_ext_rest.backend import job_store
from salt_ext_rest.backend.job_cache import cache_functions
from salt_ext_rest.backend.job_store import JobRow

log = logging.getLogger(__name__)

FLUSH_EVERY = 0.25
BACKFILL_CHUNK = 500
LEASE_TTL = 60.0
KINDS = {"job": "job", "run": "run", "wheel": "wheel"}


def index_path(opts: dict[str, Any], configured: str) -> str:
    """``job_index_path``, or ``<cachedir>/rest_ext-jobs.sqlite`` (one per master)."""
    return configured or os.path.join(opts.get("cachedir") or ".", "rest_ext-jobs.sqlite")


def job_failed(ret: dict[str, Any]) -> bool:
    """A minion's return failed: Salt's ``success`` flag when sent, else a
    non-zero ``retcode``. The returned value itself is never looked at."""
    success = ret.get("success")
    if isinstance(success, bool):
        return not success
    retcode = ret.get("retcode")
    return isinstance(retcode, int) and retcode != 0


def jid_time(jid: str, utc: bool) -> float:
    """The start time Salt encodes in a jid (local time unless ``utc_jid``)."""
    try:
        stamp = datetime.datetime.strptime(jid[:20], "%Y%m%d%H%M%S%f")
    except ValueError:
        return 0.0
    if utc:
        stamp = stamp.replace(tzinfo=datetime.timezone.utc)
    return stamp.timestamp()


class JobIndex:
    def __init__(self, opts: dict[str, Any], path: str, redact: Callable[[Any], Any]) -> None:
        self.opts, self.path, self.redact = opts, path, redact
        self.utc = bool(opts.get("utc_jid"))
        self.queue: collections.deque[tuple[str, Any]] = collections.deque()
        self.owner = f"{os.uname().nodename}:{os.getpid()}:{id(self)}"
        self.written = 0
        self.backfilled = 0
        self._db: sqlite3.Connection | None = None
        self._opened = False
        self._needs_backfill = True
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._readers = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="rest_ext-jobs")
        self._local = threading.local()

    # -- the bus side (IOLoop): cheap --------------------------------------------
    def on_event(self, tag: str, data: Any) -> None:
        """Queue what the index needs of a ``salt/job/...`` or ``salt/run/...`` event."""
        parts = tag.split("/", 5)
        if len(parts) < 4 or not isinstance(data, dict):
            return
        kind, jid, what = parts[1], parts[2], parts[3]
        if what == "new":
            self.queue.append(("new", (kind, jid, data)))
        elif what == "ret":
            mid = parts[4] if len(parts) > 4 else data.get("id")
            if isinstance(mid, str):
                self.queue.append(("ret", (jid, mid, job_failed(data))))

    # -- lifecycle -----------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._writer, name="rest_ext-jobindex", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._readers.shutdown(wait=False, cancel_futures=True)

    # -- the writer thread -----------------------------------------------------------
    def _writer(self) -> None:
        while not self._stop.is_set():
            if self._needs_backfill:
                self._needs_backfill = False
                try:
                    self._backfill()
                except Exception:
                    log.exception("rest_ext: job index backfill failed; live jobs are indexed")
            self._wake.wait(FLUSH_EVERY)
            self._wake.clear()
            try:
                self.flush()
            except Exception:
                log.exception("rest_ext: job index write failed; reopening it")
                self._close()
        self.flush()

    def db(self) -> sqlite3.Connection:
        """The writer's connection (writer thread only). The file is opened again
        when it was removed meanwhile or a write failed (:func:`.job_store.open_index`
        rebuilds it when missing or corrupt); each reopening backfills again."""
        if self._db is not None and not os.path.exists(self.path):
            log.warning("rest_ext: job index %s was removed; rebuilding it", self.path)
            self._close()
        if self._db is None:
            self._needs_backfill = self._opened  # the first backfill is the writer's
            self._db = job_store.open_index(self.path)
            self._opened = True
        return self._db

    def _close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def flush(self) -> int:
        """Write what the bus queued, in one transaction."""
        jobs: dict[str, JobRow] = {}
        returns: list[tuple[str, str, bool]] = []
        while self.queue:
            kind, item = self.queue.popleft()
            if kind == "new":
                row = self._row_from_event(*item)
                if row is not None:
                    jobs[row.jid] = row
            else:
                returns.append(item)
        if not jobs and not returns:
            return 0
        touched = job_store.write(self.db(), jobs.values(), returns)
        self.written += touched
        return touched

    def _row_from_event(self, kind: str, jid: str, data: dict[str, Any]) -> JobRow | None:
        fun = data.get("fun")
        if not isinstance(fun, str):
            return None
        args = data.get("arg", data.get("fun_args", []))
        minions = data.get("minions") or []
        return JobRow(
            jid=jid,
            kind=KINDS.get(kind, "job"),
            fun=fun,
            args=self._args(args),
            tgt=_target(data.get("tgt", "")),
            tgt_type=_text(data.get("tgt_type", "")),
            user=_text(data.get("user", "")),
            started=jid_time(jid, self.utc) or time.time(),
            minions=[m for m in minions if isinstance(m, str)],
        )

    def _args(self, args: Any) -> list[Any]:
        clean = self.redact(args if isinstance(args, list) else [args])
        return clean if isinstance(clean, list) else [clean]

    # -- backfill (writer thread) ----------------------------------------------------
    def _backfill(self) -> None:
        """Index the job cache's jobs the index lacks, newest first, in chunks
        (live events are written between chunks). One worker at a time."""
        db = self.db()
        if not job_store.take_lease(db, "backfill", self.owner, LEASE_TTL):
            return  # another worker does it; the file is shared
        returner = cache_functions(self.opts, "get_jids", "get_load", "get_jid")
        if returner is None:
            log.warning("rest_ext: the job cache cannot list jobs; the index starts empty")
            job_store.set_meta(db, "backfilled", str(time.time()))
            return
        get_jids, get_load, get_jid = returner
        jobs = get_jids() or {}
        missing = sorted(set(jobs) - job_store.known_jids(db), reverse=True)
        for start in range(0, len(missing), BACKFILL_CHUNK):
            if self._stop.is_set():
                return
            chunk = missing[start : start + BACKFILL_CHUNK]
            rows, returns = self._read_cache(chunk, jobs, get_load, get_jid)
            self.backfilled += job_store.write(db, rows, returns)
            job_store.take_lease(db, "backfill", self.owner, LEASE_TTL)
            self.flush()
        job_store.set_meta(db, "backfilled", str(time.time()))
        job_store.set_meta(db, "backfill", f"{self.owner}@0")  # released
        log.info("rest_ext: job index backfilled %d jobs from the job cache", len(missing))

    def _read_cache(
        self, jids: list[str], jobs: dict[str, Any], get_load: Any, get_jid: Any
    ) -> tuple[list[JobRow], list[tuple[str, str, bool]]]:
        rows, returns = [], []
        for jid in jids:
            job = jobs.get(jid) or {}
            load = get_load(jid) or {}
            fun = _text(job.get("Function", load.get("fun", "")))
            kind = (
                "run"
                if fun.startswith("runner.")
                else "wheel"
                if fun.startswith("wheel.")
                else "job"
            )
            rows.append(JobRow(
                jid=jid, kind=kind, fun=fun, args=self._args(job.get("Arguments", [])),
                tgt=_target(job.get("Target", "")), tgt_type=_text(job.get("Target-type", "")),
                user=_text(job.get("User", "")), started=jid_time(jid, self.utc),
                minions=[m for m in load.get("Minions", []) if isinstance(m, str)],
            ))  # fmt: skip
            for mid, ret in (get_jid(jid) or {}).items():
                returns.append((jid, mid, job_failed(ret) if isinstance(ret, dict) else False))
        return rows, returns

    # -- reads (own executor) --------------------------------------------------------
    async def read(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, self._read, fn)

    def _read(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        """``fn(connection)`` on this reader thread's connection (opened again when
        the file was rebuilt: another inode); ``None`` while there is no file."""
        try:
            inode = os.stat(self.path).st_ino
        except FileNotFoundError:
            return None
        held = getattr(self._local, "held", None)
        if held is None or held[0] != inode:
            if held is not None:
                held[1].close()
            held = self._local.held = (inode, job_store.connect(self.path))
        return fn(held[1])

    def status(self) -> dict[str, Any]:
        return {"path": self.path, "queued": len(self.queue), "written": self.written,
                "backfilled": self.backfilled}  # fmt: skip


def _target(value: Any) -> str:
    """A list target as Salt's CLI writes it (``a,b``); any other as text."""
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return _text(value)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)
