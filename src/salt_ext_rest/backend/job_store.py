"""The job index's SQLite file: schema, safe opening (rebuilt when missing or
corrupt), idempotent writes and paged reads.

One worker writes (:mod:`.writer_lock`), but writes are upserts keyed by jid and
``(jid, minion)`` all the same, so a backfill that reads again what the bus wrote,
or two writers for a moment (a lock file replaced), agree. Counts are recomputed
from the ``returns`` rows, never incremented.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

#: bump when the schema changes: an older file is rebuilt (and backfilled again);
#: 2: ``returns`` keyed by its primary key alone (WITHOUT ROWID: one B-tree per insert),
#: a job's minion list in a table of its own (SQLite writes a whole row again on each
#: update: every move of a 5,000-minion job's counts rewrote its 60 KB list)
VERSION = 2
BUSY_TIMEOUT = 5.0
SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    jid TEXT PRIMARY KEY, kind TEXT NOT NULL, fun TEXT NOT NULL, args TEXT NOT NULL,
    tgt TEXT NOT NULL, tgt_type TEXT NOT NULL, user TEXT NOT NULL, started REAL NOT NULL,
    targeted INTEGER NOT NULL, returned INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS job_minions (jid TEXT PRIMARY KEY, minions TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS jobs_user ON jobs (user, jid);
CREATE INDEX IF NOT EXISTS jobs_fun ON jobs (fun, jid);
CREATE INDEX IF NOT EXISTS jobs_tgt ON jobs (tgt, jid);
CREATE INDEX IF NOT EXISTS jobs_started ON jobs (started);
CREATE TABLE IF NOT EXISTS returns (
    jid TEXT NOT NULL, mid TEXT NOT NULL, failed INTEGER NOT NULL, PRIMARY KEY (jid, mid))
    WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
COLUMNS = "jid, kind, fun, args, tgt, tgt_type, user, started, targeted"
#: what a page reads of a job: its columns and its minion list
SELECTED = (
    "jid, kind, fun, args, tgt, tgt_type, user, started,"
    " (SELECT m.minions FROM job_minions m WHERE m.jid = jobs.jid) AS minions, targeted"
)
UPSERT_JOB = f"""
INSERT INTO jobs ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (jid) DO UPDATE SET kind = excluded.kind, fun = excluded.fun,
    args = excluded.args, tgt = excluded.tgt, tgt_type = excluded.tgt_type,
    user = excluded.user, started = MIN(jobs.started, excluded.started),
    targeted = excluded.targeted
"""
UPSERT_MINIONS = (
    "INSERT INTO job_minions (jid, minions) VALUES (?, ?)"
    " ON CONFLICT (jid) DO UPDATE SET minions = excluded.minions"
)
UPSERT_RETURN = "INSERT OR REPLACE INTO returns (jid, mid, failed) VALUES (?, ?, ?)"
RECOUNT = """
UPDATE jobs SET returned = (SELECT COUNT(*) FROM returns r WHERE r.jid = jobs.jid),
    failed = (SELECT COALESCE(SUM(r.failed), 0) FROM returns r WHERE r.jid = jobs.jid)
WHERE jid = ?
"""
#: a job's counts moved by the returns of one write, all new rows (a job written in the
#: same write, or one some of whose rows were there already, is recounted instead)
ADD_COUNTS = "UPDATE jobs SET returned = returned + ?, failed = failed + ? WHERE jid = ?"
INSERT_RETURN = "INSERT OR IGNORE INTO returns (jid, mid, failed) VALUES (?, ?, ?)"
UPDATE_FAILED = "UPDATE returns SET failed = ? WHERE jid = ? AND mid = ?"


@dataclass(frozen=True)
class JobRow:
    """One job as the index keeps it (``args`` already redacted)."""

    jid: str
    kind: str  # "job" (a publish), "run" (runner), "wheel"
    fun: str
    args: list[Any]
    tgt: str
    tgt_type: str
    user: str
    started: float
    minions: list[str]

    def values(self) -> tuple[Any, ...]:
        args = json.dumps(self.args, default=str, separators=(",", ":"))
        return (self.jid, self.kind, self.fun, args, self.tgt, self.tgt_type, self.user,
                self.started, len(self.minions))  # fmt: skip

    def minion_list(self) -> tuple[str, str]:
        return self.jid, json.dumps(sorted(self.minions), separators=(",", ":"))


class OlderSchema(sqlite3.DatabaseError):
    """The file was written by an older version of the index: rebuilt, not kept."""


def open_index(path: str) -> sqlite3.Connection:
    """A connection to the index at ``path``: created when missing, moved aside and
    created again when corrupt or of another schema version. A lock file keeps the
    workers from checking or rebuilding it at the same time."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fd = os.open(path + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            return _open_checked(path)
        except OlderSchema as exc:
            log.info("rest_ext: job index %s is of an older version (%s); rebuilding it", path, exc)
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(path + suffix)
            return _open_checked(path)
        except sqlite3.DatabaseError as exc:
            aside = f"{path}.corrupt-{int(time.time())}"
            log.warning("rest_ext: job index %s is unusable (%s); moved to %s", path, exc, aside)
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(path + suffix):
                    os.replace(path + suffix, aside + suffix)
            return _open_checked(path)
    finally:
        os.close(fd)


def _open_checked(path: str) -> sqlite3.Connection:
    if not os.path.exists(path):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    db = connect(path)
    try:
        (check,) = db.execute("PRAGMA quick_check").fetchone()
        if check != "ok":
            raise sqlite3.DatabaseError(f"quick_check: {check}")
        (version,) = db.execute("PRAGMA user_version").fetchone()
        if 0 < version < VERSION:
            raise OlderSchema(f"schema version {version}, now {VERSION}")
        if version not in (0, VERSION):
            raise sqlite3.DatabaseError(f"schema version {version}, expected {VERSION}")
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(SCHEMA)
        db.execute(f"PRAGMA user_version={VERSION}")
    except BaseException:
        db.close()
        raise
    return db


def connect(path: str) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA synchronous=NORMAL")
    return db


def write(
    db: sqlite3.Connection, jobs: Iterable[JobRow], returns: Iterable[tuple[str, str, bool]]
) -> int:
    """Upsert ``jobs`` and minion ``returns`` (jid, minion, failed; the last of a minion
    wins) in one transaction; recount the jobs written, move the counts of the others
    by the rows their returns added (a recount per flush scanned a 5,000-minion job's
    returns four times a second). Rows go in with ``executemany`` (two statements per
    return, each a round trip through Python, cost more than the rest of the index's
    work at 5,000 minions). The number of jids touched."""
    recount: set[str] = set()
    latest: dict[str, dict[str, int]] = {}
    for jid, mid, failed in returns:
        latest.setdefault(jid, {})[mid] = int(failed)
    db.execute("BEGIN IMMEDIATE")
    try:
        for job in jobs:
            db.execute(UPSERT_JOB, job.values())
            db.execute(UPSERT_MINIONS, job.minion_list())
            recount.add(job.jid)
        written = set(recount)
        deltas = [
            (len(rows), sum(rows.values()), jid)
            for jid, rows in latest.items()
            if jid not in recount and _all_new(db, jid, rows, recount)
        ]
        db.executemany(UPSERT_RETURN, [(j, m, f) for j in written & latest.keys()
                                       for m, f in latest[j].items()])  # fmt: skip
        db.executemany(RECOUNT, [(jid,) for jid in recount])
        db.executemany(ADD_COUNTS, deltas)
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return len(recount | latest.keys())


def _all_new(db: sqlite3.Connection, jid: str, rows: dict[str, int], recount: set[str]) -> bool:
    """Insert the job's ``rows`` that are new; True when all were (its counts then move
    by them: the usual case, with no query). Else the rows it had are given their
    latest failure and the job is added to ``recount`` (a backfill that read again
    what the bus wrote, or a minion that returned twice)."""
    before = db.total_changes
    db.executemany(INSERT_RETURN, [(jid, mid, failed) for mid, failed in rows.items()])
    if db.total_changes - before == len(rows):
        return True
    db.executemany(UPDATE_FAILED, [(failed, jid, mid) for mid, failed in rows.items()])
    recount.add(jid)
    return False


def known_jids(db: sqlite3.Connection) -> set[str]:
    return {jid for (jid,) in db.execute("SELECT jid FROM jobs")}


def count_functions(db: sqlite3.Connection, glob: str) -> int:
    """How many jobs run a function matching ``glob`` (from the function index)."""
    (count,) = db.execute("SELECT COUNT(*) FROM jobs WHERE fun GLOB ?", (glob,)).fetchone()
    return int(count)


def get_meta(db: sqlite3.Connection, key: str) -> str | None:
    row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return row[0] if row else None


def set_meta(db: sqlite3.Connection, key: str, value: str) -> None:
    db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))


def unfinished(db: sqlite3.Connection, since: float, n: int) -> list[str]:
    """Up to ``n`` jids started at or after ``since``, newest first, with fewer
    returns than targeted minions (or a runner's or wheel's without its return)."""
    cursor = db.execute(
        "SELECT jid FROM jobs WHERE started >= ? AND (returned < targeted"
        " OR (kind != 'job' AND returned = 0)) ORDER BY started DESC LIMIT ?",
        (since, n),
    )
    return [jid for (jid,) in cursor]


def query(
    db: sqlite3.Connection,
    where: Sequence[str],
    params: Sequence[Any],
    before: str | None,
    n: int,
    few: bool = False,
) -> list[dict[str, Any]]:
    """Up to ``n`` jobs matching every clause of ``where``, newest first, older
    than jid ``before`` (when given). ``few``: the clauses select few rows through
    an index of their own; sort those rather than walk every jid newest first."""
    clauses = list(where)
    values = list(params)
    if before is not None:
        clauses.append("jid < ?")
        values.append(before)
    sql = f"SELECT {SELECTED}, returned, failed FROM jobs"
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    sql += f" ORDER BY {'+jid' if few else 'jid'} DESC LIMIT ?"
    cursor = db.execute(sql, [*values, n])
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor]
