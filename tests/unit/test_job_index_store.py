"""The job index without daemons: bus events (decoded or not) in, SQLite rows out."""

import os
import sqlite3

import pytest
import salt.payload

from salt_ext_rest.backend import job_store
from salt_ext_rest.backend.job_index import JobIndex, job_failed
from salt_ext_rest.events.redact import redact

JID = "20261207120000123456"
NEW = {"fun": "test.arg", "arg": ["a", {"password": "p", "__kwarg__": True}], "tgt": ["m1", "m2"],
       "tgt_type": "list", "user": "alice", "minions": ["m1", "m2"]}  # fmt: skip


def index(tmp_path, name="jobs.sqlite"):
    return JobIndex({"cachedir": str(tmp_path)}, str(tmp_path / name), redact)


def rows(path):
    db = sqlite3.connect(path)
    try:
        return job_store.query(db, [], [], None, 100)
    finally:
        db.close()


def feed(idx, *events):
    for tag, data in events:
        idx.on_event(tag, data)
    idx.flush()


EVENTS = [
    (f"salt/job/{JID}/new", NEW),
    (f"salt/job/{JID}/ret/m1", {"id": "m1", "return": False, "retcode": 0, "success": True}),
    (f"salt/job/{JID}/ret/m2", {"id": "m2", "return": True, "retcode": 2}),
]


def test_events_become_one_row_with_counts_and_redacted_arguments(tmp_path):
    idx = index(tmp_path)
    feed(idx, *EVENTS)
    (row,) = rows(idx.path)
    assert (row["jid"], row["fun"], row["tgt"], row["user"]) == (JID, "test.arg", "m1,m2", "alice")
    assert (row["targeted"], row["returned"], row["failed"]) == (2, 2, 1)
    assert row["minions"] == '["m1","m2"]'  # kept apart from the counts the returns move
    assert '"password":"<redacted>"' in row["args"] and '"p"' not in row["args"]


def test_writers_sharing_a_file_agree_in_any_order(tmp_path):
    first, second = index(tmp_path), index(tmp_path)
    feed(first, *EVENTS)
    feed(second, *reversed(EVENTS))  # a return before its job, twice over
    feed(first, EVENTS[1])
    (row,) = rows(first.path)
    assert (row["targeted"], row["returned"], row["failed"]) == (2, 2, 1)


def test_a_return_before_its_job_is_counted_when_the_job_comes(tmp_path):
    idx = index(tmp_path)
    feed(idx, EVENTS[2])
    assert rows(idx.path) == []
    feed(idx, EVENTS[0])
    (row,) = rows(idx.path)
    assert (row["returned"], row["failed"]) == (1, 1)


def test_counts_moved_by_later_returns_match_a_recount(tmp_path):
    idx = index(tmp_path)
    many = dict(NEW, minions=[f"m{i}" for i in range(5)])
    feed(idx, (f"salt/job/{JID}/new", many), EVENTS[1])  # the job and a return: recounted
    ok, bad = {"return": True, "retcode": 0}, {"return": True, "retcode": 1}
    feed(idx, *[(f"salt/job/{JID}/ret/m{i}", dict(ok, id=f"m{i}")) for i in (2, 3)])
    feed(idx, (f"salt/job/{JID}/ret/m3", dict(bad, id="m3")))  # again, failed this time
    feed(idx, (f"salt/job/{JID}/ret/m4", dict(bad, id="m4")), (f"salt/job/{JID}/ret/m2", ok))
    (row,) = rows(idx.path)
    assert (row["targeted"], row["returned"], row["failed"]) == (5, 4, 2)
    db = sqlite3.connect(idx.path)
    try:
        counted = db.execute("SELECT COUNT(*), SUM(failed) FROM returns WHERE jid = ?", (JID,))
        assert tuple(counted.fetchone()) == (4, 2)
    finally:
        db.close()


def test_a_corrupt_file_is_moved_aside_and_rebuilt(tmp_path):
    path = tmp_path / "jobs.sqlite"
    path.write_bytes(b"garbage" * 1000)
    db = job_store.open_index(str(path))
    db.close()
    assert [p.name for p in tmp_path.glob("jobs.sqlite.corrupt-*")]
    idx = index(tmp_path)
    feed(idx, *EVENTS)
    assert len(rows(idx.path)) == 1


def test_a_file_of_an_older_schema_is_rebuilt_not_kept_aside(tmp_path):
    path = tmp_path / "jobs.sqlite"
    db = sqlite3.connect(path)
    db.executescript("CREATE TABLE returns (jid TEXT, mid TEXT, failed INTEGER);"
                     "PRAGMA user_version=1;")  # fmt: skip
    db.close()
    idx = index(tmp_path)
    feed(idx, *EVENTS)
    assert len(rows(idx.path)) == 1 and not list(tmp_path.glob("jobs.sqlite.corrupt-*"))
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA user_version").fetchone() == (job_store.VERSION,)
    finally:
        db.close()


def test_a_removed_file_is_created_again(tmp_path):
    idx = index(tmp_path)
    idx._backfill = lambda: None  # no job cache here
    feed(idx, EVENTS[0])
    os.unlink(idx.path)
    feed(idx, *EVENTS)
    (row,) = rows(idx.path)
    assert row["returned"] == 2


@pytest.mark.parametrize(
    ("ret", "failed"),
    [({"success": True, "retcode": 1}, False), ({"success": False}, True), ({"retcode": 3}, True),
     ({"retcode": 0}, False), ({"return": False}, False)],
)  # fmt: skip
def test_failure_comes_from_salts_flags_never_the_value(ret, failed):
    assert job_failed(ret) is failed


def test_other_events_are_ignored_cheaply(tmp_path):
    idx = index(tmp_path)
    for tag in ("salt/job/x", f"salt/job/{JID}/prog/m1/0"):
        idx.on_event(tag, {"fun": "x"})
    assert not idx.queue  # by their tag alone, on the IOLoop
    idx.on_event("salt/job/1/ret", {"fun": "x"})
    idx.on_event(f"salt/job/{JID}/new", "not a dict")
    idx.on_event(f"salt/job/{JID}/new", salt.payload.dumps(["not", "a", "dict"]))
    idx.on_event(f"salt/job/{JID}/new", b"\xc1 not msgpack")
    assert idx.flush() == 0 and not idx.queue and not os.path.exists(idx.path)
    assert idx.undecodable == 1


def test_undecoded_bodies_are_decoded_by_the_writer(tmp_path):
    idx = index(tmp_path)
    feed(idx, *[(tag, salt.payload.dumps(data)) for tag, data in EVENTS])
    (row,) = rows(idx.path)
    assert (row["fun"], row["targeted"], row["returned"], row["failed"]) == ("test.arg", 2, 2, 1)


def test_a_return_the_bus_decoded_is_queued_as_its_failure_only(tmp_path):
    idx = index(tmp_path)
    idx.on_event(*EVENTS[2])  # decoded by the bus for a waiting call: the writer needs one bit
    assert list(idx.queue) == [(EVENTS[2][0], True)]
    feed(idx, EVENTS[0])
    (row,) = rows(idx.path)
    assert (row["returned"], row["failed"]) == (1, 1)
