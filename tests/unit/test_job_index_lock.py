"""One writer per job index: the lock, its release when the holder dies, the takeover
(and its backfill of what nobody wrote), the bus handing job events to the writer only."""

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
import salt.payload

from salt_ext_rest.backend import job_backfill, job_index, job_store
from salt_ext_rest.backend.job_index import JobIndex
from salt_ext_rest.backend.writer_lock import WriterLock
from salt_ext_rest.events.bus_parts import UNDECODED, feed_consumers
from salt_ext_rest.events.redact import redact
from salt_ext_rest.events.watchers import TagWatchers
from tests.support.polling import wait_for as poll

J1, J2, J3 = (f"2026120712000{i}123456" for i in (1, 2, 3))
NEW = {"fun": "test.ping", "tgt": "*", "tgt_type": "glob", "user": "u", "minions": ["m1", "m2"]}

HOLD = """
import sys, time
from salt_ext_rest.backend.writer_lock import WriterLock
lock = WriterLock(sys.argv[1])
assert lock.take()
print("held", flush=True)
time.sleep(60)
"""


def wait_for(check, timeout=10.0):
    return poll(check, timeout, 0.02)


def test_one_holder_at_a_time_and_its_pid_in_the_file(tmp_path):
    first, second = WriterLock(str(tmp_path / "w")), WriterLock(str(tmp_path / "w"))
    assert first.take() and first.take()  # taking it again keeps it
    assert not second.take() and not second.held
    assert second.holder() == os.getpid()
    first.release()
    assert first.holder() is None
    assert second.take() and second.held
    second.release()


def test_the_kernel_releases_a_killed_holders_lock(tmp_path):
    path = str(tmp_path / "w")
    proc = subprocess.Popen([sys.executable, "-c", HOLD, path], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        mine = WriterLock(path)
        assert not mine.take() and mine.holder() == proc.pid
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert mine.take() and mine.holder() == os.getpid()  # the dead holder's pid is replaced
    mine.release()


def test_a_forked_child_does_not_keep_the_lock(tmp_path):
    path = str(tmp_path / "w")
    parent = WriterLock(path)
    assert parent.take()
    ready, started = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child outlives the parent's hold of the lock
        os.write(started, b"x")  # the fork's hooks have run
        time.sleep(3)
        os._exit(0)
    os.close(started)
    try:
        assert os.read(ready, 1) == b"x"
        parent.release()
        other = WriterLock(path)
        assert other.take(), "the forked child kept the lock"
        other.release()
    finally:
        os.close(ready)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def test_a_replaced_lock_file_is_taken_again(tmp_path):
    path = str(tmp_path / "w")
    lock = WriterLock(path)
    assert lock.take()
    os.unlink(path)
    assert lock.take() and os.path.exists(path)
    assert not WriterLock(path).take()  # one lock again, on the file now at the path
    lock.release()


class FakeCache:
    """The job cache's ``get_jids``/``get_load``/``get_jid``, from dicts."""

    def __init__(self):
        self.jobs, self.returns = {}, {}

    def add(self, jid, returns=()):
        self.jobs[jid] = {"Function": "test.ping", "Arguments": [], "Target": "*",
                          "Target-type": "glob", "User": "u"}  # fmt: skip
        self.returns[jid] = {mid: {"return": True, "retcode": 0} for mid in returns}

    def functions(self, opts, *names):
        return (
            lambda: dict(self.jobs),
            lambda jid: {"Minions": ["m1", "m2"]} if jid in self.jobs else {},
            lambda jid: dict(self.returns.get(jid, {})),
        )


@pytest.fixture
def cache(monkeypatch):
    fake = FakeCache()
    monkeypatch.setattr(job_backfill, "cache_functions", fake.functions)
    monkeypatch.setattr(job_index, "TAKEOVER_EVERY", 0.05)
    monkeypatch.setattr(job_index, "FLUSH_EVERY", 0.02)
    monkeypatch.setattr(job_index, "RETURNS_EVERY", 0.02)
    return fake


def counts(path):
    if not os.path.exists(path):
        return {}
    db = job_store.connect(path)
    try:
        return {r["jid"]: r["returned"] for r in job_store.query(db, [], [], None, 100)}
    except sqlite3.OperationalError:  # the writer has not made the tables yet
        return {}
    finally:
        db.close()


def test_one_worker_writes_the_other_takes_over_and_fills_the_gap(tmp_path, cache):
    path = str(tmp_path / "jobs.sqlite")
    cache.add(J1, ["m1", "m2"])
    first, second = (JobIndex({}, path, redact) for _ in range(2))
    first.start()
    assert wait_for(lambda: first.writing and counts(path) == {J1: 2})
    second.start()
    time.sleep(0.3)
    assert first.wants_events() and not second.wants_events()
    first.on_event(f"salt/job/{J2}/new", salt.payload.dumps(NEW))
    assert wait_for(lambda: counts(path) == {J1: 2, J2: 0})
    first.stop()  # the writer goes; meanwhile J2 returned and J3 ran, both in the job cache
    cache.add(J2, ["m1", "m2"])
    cache.add(J3, ["m1"])
    try:
        assert wait_for(lambda: second.writing)
        assert wait_for(lambda: counts(path) == {J1: 2, J2: 2, J3: 1})
        assert second.status()["writer_pid"] == os.getpid() and second.takeovers == 1
    finally:
        second.stop()
    assert not second.writing and WriterLock(path + ".writer").holder() is None


def test_the_bus_hands_undecoded_job_events_to_the_writer_only(tmp_path):
    class NoJobs:
        def wants(self, tag):
            return False

    idx = JobIndex({}, str(tmp_path / "jobs.sqlite"), redact)
    watchers = TagWatchers()
    watchers.add(("salt/job/",), idx.on_event, raw=True, active=idx.wants_events)
    body = salt.payload.dumps(NEW)
    assert feed_consumers(f"salt/job/{J1}/new", body, NoJobs(), watchers) is UNDECODED
    assert not idx.queue  # not the writer: not even queued
    idx.writing = True
    assert feed_consumers(f"salt/job/{J1}/new", body, NoJobs(), watchers) is UNDECODED
    assert list(idx.queue) == [(f"salt/job/{J1}/new", body)]  # still undecoded
    seen = []
    watchers.add(("salt/job/",), lambda tag, data: seen.append(data))  # wants it decoded
    assert feed_consumers(f"salt/job/{J1}/new", body, NoJobs(), watchers) == NEW
    assert seen == [NEW] and idx.queue[-1] == (f"salt/job/{J1}/new", body)
