"""The job index: every job of the master in a SQLite file, for ``GET /jobs`` paging.

One worker writes it (:mod:`.writer_lock`: whoever holds ``<index>.writer``); the
others only read it and ask for the lock every :data:`TAKEOVER_EVERY` seconds. The
writer is kept current from its one bus subscription (``salt/job/<jid>/new``,
``salt/job/<jid>/ret/<minion>`` and the runner's ``salt/run/...``): the bus hands
each such event, undecoded, to :meth:`JobIndex.on_event`, which only appends it to
a queue (workers that do not write are not handed it). A writer thread sleeps until
something is queued, lets a batch gather (:data:`FLUSH_EVERY` seconds when it holds a
new job, :data:`RETURNS_EVERY` when it holds only returns), then decodes it and
writes it in one transaction (:mod:`.job_store`). With nothing queued it wakes only
every :data:`TAKEOVER_EVERY` seconds (to check its lock). Each time a worker becomes
the writer (at start, or when the writer died) the same thread backfills what the
index lacks from the master's job cache (:mod:`.job_backfill`). Reads run on a small
executor of their own, never on the IOLoop.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from salt_ext_rest.backend import job_backfill, job_store
from salt_ext_rest.backend.bus_client import decode
from salt_ext_rest.backend.job_store import JobRow
from salt_ext_rest.backend.job_values import jid_time, job_failed, target_text, text
from salt_ext_rest.backend.writer_lock import WriterLock

log = logging.getLogger(__name__)

#: seconds a new job (and what came with it) waits before it is written
FLUSH_EVERY = 0.25
#: seconds returns wait before they are written, when no new job came with them (a
#: 5,000-minion job's returns come over 30 s: four writes a second cost more API CPU
#: than the rest of its returns' handling; each write also rewrites most pages of the
#: job's returns, whatever their number: one every 2 s rather than 1 s saved about
#: 1.5 us of the writer's CPU per return)
RETURNS_EVERY = 2.0
#: a worker that does not write asks for the writer's lock this often (seconds)
TAKEOVER_EVERY = 2.0
KINDS = {"job": "job", "run": "run", "wheel": "wheel"}
__all__ = ["JobIndex", "index_path", "jid_time", "job_failed"]


def index_path(opts: dict[str, Any], configured: str) -> str:
    """``job_index_path``, or ``<cachedir>/rest_ext-jobs.sqlite`` (one per master)."""
    return configured or os.path.join(opts.get("cachedir") or ".", "rest_ext-jobs.sqlite")


class JobIndex:
    def __init__(self, opts: dict[str, Any], path: str, redact: Callable[[Any], Any]) -> None:
        self.opts, self.path, self.redact = opts, path, redact
        self.utc = bool(opts.get("utc_jid"))
        #: ``(tag, body)``: the body undecoded (bytes), or decoded when the bus had to
        self.queue: collections.deque[tuple[str, Any]] = collections.deque()
        self.lock = WriterLock(path + ".writer")
        #: this worker holds the lock: the bus hands it job events (read on the IOLoop)
        self.writing = False
        self.written = 0
        self.backfilled = 0
        self.undecodable = 0
        self.takeovers = 0
        self._db: sqlite3.Connection | None = None
        self._opened = False
        self._needs_backfill = True
        self._asked = 0.0
        self._wake = threading.Event()  # something to write (or stop)
        self._new_job = False  # a new job is queued: write it within FLUSH_EVERY
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._readers = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="rest_ext-jobs")
        self._local = threading.local()

    # -- the bus side (IOLoop): cheap --------------------------------------------
    def wants_events(self) -> bool:
        """Hand job events to this worker? Only to the writer."""
        return self.writing

    def on_event(self, tag: str, payload: Any) -> None:
        """Queue a ``salt/job/...`` or ``salt/run/...`` event the index may need: its
        body as the bus got it (decoded on the writer thread); of a return the bus
        decoded anyway, only whether it failed (the writer never touches its data)."""
        if "/ret/" in tag:
            self.queue.append((tag, job_failed(payload) if isinstance(payload, dict) else payload))
            if len(self.queue) == 1:  # the writer sleeps until something is queued
                self._wake.set()
        elif tag.endswith("/new"):
            self.queue.append((tag, payload))
            self._new_job = True
            self._wake.set()

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
            if not self.hold():
                self._wake.wait(TAKEOVER_EVERY)
                self._wake.clear()
                continue
            if self._needs_backfill:
                self._needs_backfill = False
                try:
                    job_backfill.backfill(self, self.db())
                except Exception:
                    log.exception("rest_ext: job index backfill failed; live jobs are indexed")
            if not self.queue:
                self._wake.wait(TAKEOVER_EVERY)  # until something is queued
                self._wake.clear()
                continue
            self._gather()
            try:
                self.flush()
            except Exception:
                log.exception("rest_ext: job index write failed; reopening it")
                self._close()
        try:
            if self.writing:
                self.flush()
        finally:
            self.writing = False
            self.lock.release()

    def _gather(self) -> None:
        """Let a batch gather: until :data:`FLUSH_EVERY` after the first event when a new
        job is queued (or comes meanwhile), else :data:`RETURNS_EVERY`; or a stop."""
        first = time.monotonic()
        while not self._stop.is_set():
            left = first + (FLUSH_EVERY if self._new_job else RETURNS_EVERY) - time.monotonic()
            if left <= 0:
                return
            self._wake.wait(left)
            self._wake.clear()

    def hold(self) -> bool:
        """Is this worker the writer? The lock is asked for (or checked) every
        :data:`TAKEOVER_EVERY` seconds. Taking it over starts a backfill: what the
        previous writer missed (it died, or nobody wrote) is in the job cache."""
        now = time.monotonic()
        if now - self._asked < TAKEOVER_EVERY:
            return self.writing
        self._asked = now
        try:
            held = self.lock.take()
        except OSError as exc:
            log.warning("rest_ext: job index lock %s: %s; retrying", self.lock.path, exc)
            held = False
        if held and not self.writing:
            self.takeovers += 1
            self._needs_backfill = True
            log.info("rest_ext: this worker (pid %d) writes the job index now", os.getpid())
        elif self.writing and not held:
            log.warning("rest_ext: the job index's lock file was replaced; another worker writes")
            self.queue.clear()
        self.writing = held  # from now on the bus queues job events here
        return held

    def stopping(self) -> bool:
        return self._stop.is_set()

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
        """Decode and write what the bus queued, in one transaction."""
        jobs: dict[str, JobRow] = {}
        returns: list[tuple[str, str, bool]] = []
        self._new_job = False
        for tag, data in self._decoded():
            parts = tag.split("/", 5)
            if len(parts) < 4:
                continue
            kind, jid, what = parts[1], parts[2], parts[3]
            if what == "new" and isinstance(data, dict):
                row = self._row_from_event(kind, jid, data)
                if row is not None:
                    jobs[row.jid] = row
            elif what == "ret":
                ret = _return_row(jid, parts, data)
                if ret is not None:
                    returns.append(ret)
        if not jobs and not returns:
            return 0
        touched = job_store.write(self.db(), jobs.values(), returns)
        self.written += touched
        return touched

    def _decoded(self) -> Iterator[tuple[str, Any]]:
        """The queued events whose data is a mapping, or a return's failure (a bool);
        a malformed body is counted."""
        while self.queue:
            tag, data = self.queue.popleft()
            if isinstance(data, bytes):
                try:
                    data = decode(data)
                except Exception:
                    self.undecodable += 1
                    continue
            if isinstance(data, dict | bool):
                yield tag, data

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
            args=self.clean_args(args),
            tgt=target_text(data.get("tgt", "")),
            tgt_type=text(data.get("tgt_type", "")),
            user=text(data.get("user", "")),
            started=jid_time(jid, self.utc) or time.time(),
            minions=[m for m in minions if isinstance(m, str)],
        )

    def clean_args(self, args: Any) -> list[Any]:
        clean = self.redact(args if isinstance(args, list) else [args])
        return clean if isinstance(clean, list) else [clean]

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
        """For ``/stats``: does this worker write, who does (pid), what it did."""
        return {"path": self.path, "writer": self.writing, "writer_pid": self.lock.holder(),
                "takeovers": self.takeovers, "queued": len(self.queue), "written": self.written,
                "backfilled": self.backfilled, "undecodable": self.undecodable}  # fmt: skip


def _return_row(jid: str, parts: list[str], data: Any) -> tuple[str, str, bool] | None:
    """(jid, minion, failed) of a return event; ``data`` is its data or, when the bus
    decoded it anyway, only whether it failed (:meth:`JobIndex.on_event`)."""
    if isinstance(data, bool):
        failed, mid = data, parts[4] if len(parts) > 4 else None
    else:
        failed, mid = job_failed(data), parts[4] if len(parts) > 4 else data.get("id")
    return (jid, mid, failed) if isinstance(mid, str) else None
