"""Shared state of the workers of one host: a SQLite file in the master's ``sock_dir``.

``<sock_dir>/rest_ext-<port>.sqlite`` (WAL), used when ``num_processes`` is above 1.
Each worker talks to it from its own single thread (never the IOLoop), every call
bounded by :data:`CALL_TIMEOUT`; a call that fails or overruns raises
:class:`~salt_ext_rest.shared.redis_link.StoreUnavailable` (see :mod:`.health`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from salt_ext_rest.shared.health import Health
from salt_ext_rest.shared.state import SLOT_LEASE, WORKER_TTL, Bucket

T = TypeVar("T")

#: seconds one call may take (lock waits included)
CALL_TIMEOUT = 0.5
#: every this many bucket calls, buckets that are full again are deleted
PRUNE_EVERY = 256

SCHEMA = """
CREATE TABLE IF NOT EXISTS buckets (name TEXT PRIMARY KEY, tokens REAL, updated REAL,
                                    full_at REAL);
CREATE TABLE IF NOT EXISTS slots (lease TEXT PRIMARY KEY, digest TEXT, expires REAL);
CREATE INDEX IF NOT EXISTS slots_digest ON slots (digest);
CREATE TABLE IF NOT EXISTS workers (id TEXT PRIMARY KEY, record TEXT, updated REAL);
"""


def state_path(sock_dir: str, port: int) -> str:
    return os.path.join(sock_dir, f"rest_ext-{port}.sqlite")


class SqliteState:
    kind = "file"

    def __init__(self, path: str) -> None:
        self.path = path
        self.health = Health(f"shared state {path}", "this process's state")
        self._db: sqlite3.Connection | None = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._calls = 0

    # -- plumbing ------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        if self._db is None:
            # private to the master's user (SQLite gives -wal and -shm the same mode)
            if not os.path.exists(self.path):
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
            db = sqlite3.connect(
                self.path, timeout=CALL_TIMEOUT, isolation_level=None, check_same_thread=False
            )
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(SCHEMA)
            self._db = db
        return self._db

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        self.health.check()
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(
                1, thread_name_prefix="rest_ext-state"
            )
        loop = asyncio.get_running_loop()
        try:
            future = loop.run_in_executor(self._executor, self._call, fn)
            result = await asyncio.wait_for(future, CALL_TIMEOUT)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # sqlite3 errors, OSError, TimeoutError
            raise self.health.failed(exc) from None
        self.health.succeeded()
        return result

    def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        db = self._connect()
        db.execute("BEGIN IMMEDIATE")
        try:
            result = fn(db)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return result

    # -- buckets -------------------------------------------------------------------
    async def take(self, buckets: Sequence[Bucket], cost: float, check: bool) -> float:
        limited = [b for b in buckets if b.burst]
        if not limited:
            return 0.0
        self._calls += 1
        prune = self._calls % PRUNE_EVERY == 0
        return await self._run(lambda db: _take(db, limited, cost, check, prune))

    # -- stream slots --------------------------------------------------------------
    async def acquire_slot(self, digest: str, lease: str, limit: int) -> bool:
        def acquire(db: sqlite3.Connection) -> bool:
            now = time.time()
            db.execute("DELETE FROM slots WHERE digest = ? AND expires < ?", (digest, now))
            count = "SELECT COUNT(*) FROM slots WHERE digest = ?"
            (held,) = db.execute(count, (digest,)).fetchone()
            if held >= limit:
                return False
            db.execute(
                "INSERT OR REPLACE INTO slots VALUES (?, ?, ?)", (lease, digest, now + SLOT_LEASE)
            )
            return True

        return await self._run(acquire)

    async def release_slot(self, digest: str, lease: str) -> None:
        await self._run(lambda db: db.execute("DELETE FROM slots WHERE lease = ?", (lease,)))

    async def renew_slots(self, leases: dict[str, str]) -> None:
        def renew(db: sqlite3.Connection) -> None:
            expires = time.time() + SLOT_LEASE
            db.executemany(
                "INSERT OR REPLACE INTO slots VALUES (?, ?, ?)",
                [(lease, digest, expires) for lease, digest in leases.items()],
            )

        if leases:
            await self._run(renew)

    # -- worker records ------------------------------------------------------------
    async def publish_worker(self, record: dict[str, Any]) -> None:
        def publish(db: sqlite3.Connection) -> None:
            now = time.time()
            db.execute(
                "INSERT OR REPLACE INTO workers VALUES (?, ?, ?)",
                (f"{record['host']}:{record['pid']}", json.dumps(record), now),
            )
            db.execute("DELETE FROM workers WHERE updated < ?", (now - WORKER_TTL,))

        await self._run(publish)

    async def workers(self) -> list[dict[str, Any]]:
        def read(db: sqlite3.Connection) -> list[dict[str, Any]]:
            return [json.loads(row[0]) for row in db.execute("SELECT record FROM workers")]

        return await self._run(read)

    def status(self) -> dict[str, Any]:
        return {"kind": self.kind, "path": self.path, **self.health.status()}

    async def close(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            db, self._db = self._db, None
            if db is not None:
                executor.submit(db.close)
            executor.shutdown(wait=False)


def _take(
    db: sqlite3.Connection, buckets: Sequence[Bucket], cost: float, check: bool, prune: bool
) -> float:
    now = time.time()
    if prune:
        db.execute("DELETE FROM buckets WHERE full_at <= ?", (now,))
    levels = []
    for bucket in buckets:
        row = db.execute(
            "SELECT tokens, updated FROM buckets WHERE name = ?", (bucket.name,)
        ).fetchone()
        tokens = float(bucket.burst) if row is None else row[0] + (now - row[1]) * bucket.rate
        levels.append(min(float(bucket.burst), tokens))
    if check:
        waits = [(1 - t) / b.rate for b, t in zip(buckets, levels, strict=True) if t < 1]
        wait = max(waits, default=0.0)
        if wait > 0:
            return wait
    for bucket, tokens in zip(buckets, levels, strict=True):
        left = tokens - cost
        full_at = now + (bucket.burst - left) / bucket.rate
        db.execute(
            "INSERT OR REPLACE INTO buckets VALUES (?, ?, ?, ?)", (bucket.name, left, now, full_at)
        )
    return 0.0
