"""The shared state against each store: this process's memory, the SQLite file (with
several real processes), Redis (a real redis-server, taken away and brought back)."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import socket
import time
import uuid

import pytest

from salt_ext_rest.http.stream_slots import StreamSlots
from salt_ext_rest.shared import local, redis_state, worker
from salt_ext_rest.shared.layered import LayeredState
from salt_ext_rest.shared.local import SqliteState
from salt_ext_rest.shared.memory import MemoryState
from salt_ext_rest.shared.redis_link import RedisLink, StoreUnavailable
from salt_ext_rest.shared.redis_state import RedisState
from salt_ext_rest.shared.state import Bucket, token_digest, worker_record
from salt_ext_rest.shared.worker import WorkerShare

SLOW = 0.01  # tokens per second: nothing refills during a test


def user(name: str, burst: int = 3, rate: float = SLOW) -> Bucket:
    return Bucket("user", name, burst, rate)


def make_state(kind: str, tmp_path, redis_url: str | None):
    if kind == "memory":
        return MemoryState()
    if kind == "file":
        return SqliteState(str(tmp_path / "state.sqlite"))
    # what these tests check is the state's logic, not Redis' speed: a loaded CI
    # machine must not turn a slow first connection into a failure
    link = RedisLink(redis_url or "", timeout=2.0, prefix=f"t-{uuid.uuid4().hex[:8]}:")
    return RedisState(link)


@pytest.fixture(params=["memory", "file", "redis"])
def state(request, tmp_path):
    url = request.getfixturevalue("redis_server").url if request.param == "redis" else None
    return make_state(request.param, tmp_path, url)


def run(coro):
    return asyncio.run(coro)


def test_buckets_take_check_and_failure_cost(state) -> None:
    async def scenario() -> None:
        alice = [user("alice"), Bucket("address", "10.0.0.1", 5, SLOW)]
        for _ in range(3):
            assert await state.take(alice, 1, check=True) == 0
        wait = await state.take(alice, 1, check=True)
        assert 0 < wait <= 1 / SLOW
        # another username is not throttled, but shares the address bucket (2 left)
        bob = [user("bob"), Bucket("address", "10.0.0.1", 5, SLOW)]
        assert await state.take(bob, 1, check=True) == 0
        assert await state.take(bob, 2, check=False) == 0  # a refusal's extra cost
        assert await state.take(bob, 1, check=True) > 0  # the address is now empty
        # burst 0: no limit
        free = [Bucket("user", "free", 0, SLOW)]
        for _ in range(10):
            assert await state.take(free, 1, check=True) == 0
        await state.close()

    run(scenario())


def test_buckets_refill(state) -> None:
    async def scenario() -> None:
        fast = [user("refill", burst=1, rate=20.0)]
        assert await state.take(fast, 1, check=True) == 0
        assert await state.take(fast, 1, check=True) > 0
        await asyncio.sleep(0.1)
        assert await state.take(fast, 1, check=True) == 0
        await state.close()

    run(scenario())


def test_slots_cap_and_release(state) -> None:
    async def scenario() -> None:
        assert await state.acquire_slot("d1", "l1", 2)
        assert await state.acquire_slot("d1", "l2", 2)
        assert not await state.acquire_slot("d1", "l3", 2)
        assert await state.acquire_slot("d2", "l4", 2)  # another token
        await state.release_slot("d1", "l1")
        await state.release_slot("d1", "unknown")  # no error, frees nothing
        assert await state.acquire_slot("d1", "l5", 2)
        assert not await state.acquire_slot("d1", "l6", 2)
        await state.close()

    run(scenario())


def test_worker_records(state) -> None:
    async def scenario() -> None:
        record = worker_record({"served": 3}, 1)
        await state.publish_worker(record)
        await state.publish_worker({**record, "pid": 1, "counters": {"served": 4}})
        records = sorted(await state.workers(), key=lambda r: r["pid"])
        assert [r["counters"]["served"] for r in records] == [4, 3]
        await state.close()

    run(scenario())


@pytest.mark.parametrize("kind", ["file", "redis"])
def test_slots_of_a_dead_worker_expire_and_renewal_keeps_them(
    kind, tmp_path, monkeypatch, request
) -> None:
    module = local if kind == "file" else redis_state
    monkeypatch.setattr(module, "SLOT_LEASE", 1.0)
    url = request.getfixturevalue("redis_server").url if kind == "redis" else None
    state = make_state(kind, tmp_path, url)

    async def scenario() -> None:
        assert await state.acquire_slot("d", "dead", 2)
        assert await state.acquire_slot("d", "alive", 2)
        for _ in range(3):  # "alive" is renewed, "dead" is not
            await asyncio.sleep(0.5)
            await state.renew_slots({"alive": "d"})
        assert await state.acquire_slot("d", "new", 2)  # "dead" expired
        assert not await state.acquire_slot("d", "over", 2)  # "alive" still held
        await state.close()

    run(scenario())


def _worker(path: str, attempts: int, slots: int, queue) -> None:
    async def work() -> tuple[int, int]:
        state = SqliteState(path)
        taken = 0
        for _ in range(attempts):
            if await state.take([user("shared", burst=10)], 1, check=True) == 0:
                taken += 1
        held = 0
        for i in range(slots):
            held += await state.acquire_slot("d", f"{os.getpid()}:{i}", 5)
        await state.publish_worker(worker_record({"served": taken}, None))
        await state.close()
        return taken, held

    queue.put(asyncio.run(work()))


def test_sqlite_limits_hold_across_processes(tmp_path) -> None:
    path = str(tmp_path / "rest_ext-8000.sqlite")
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(path, 8, 3, queue)) for _ in range(3)]
    for proc in procs:
        proc.start()
    results = [queue.get(timeout=60) for _ in procs]
    for proc in procs:
        proc.join(30)
    assert sum(taken for taken, _ in results) == 10  # one bucket of 10 for all three
    assert sum(held for _, held in results) == 5  # one cap of 5 for all three
    records = run(SqliteState(path).workers())
    assert len(records) == 3
    assert sum(r["counters"]["served"] for r in records) == 10
    for private in (path, path + "-wal", path + "-shm"):
        if os.path.exists(private):  # -wal and -shm go once the last process closes
            assert oct(os.stat(private).st_mode & 0o777) == "0o600", private


def test_unusable_sqlite_file_fails_fast_then_falls_back_to_memory(tmp_path, caplog) -> None:
    state = LayeredState(SqliteState(str(tmp_path / "missing" / "x.sqlite")), MemoryState())

    async def scenario() -> None:
        for _ in range(2):
            started = time.monotonic()
            assert await state.take([user("a", burst=2)], 1, check=True) == 0
            assert time.monotonic() - started < 0.6
        assert await state.take([user("a", burst=2)], 1, check=True) > 0  # memory counted
        status = state.status()
        assert status["kind"] == "file" and status["available"] is False
        assert status["degraded_since"] and status["fallback"]["kind"] == "memory"

    with caplog.at_level(logging.WARNING, logger="salt_ext_rest.shared.health"):
        run(scenario())
    assert sum("unavailable" in r.getMessage() for r in caplog.records) == 1


def test_redis_outage_bounded_fallback_and_recovery(redis_server, tmp_path) -> None:
    link = RedisLink(redis_server.url, timeout=0.25, prefix=f"t-{uuid.uuid4().hex[:8]}:")
    state = LayeredState(RedisState(link), MemoryState())
    share = WorkerShare(state)
    burst = [user("outage", burst=2)]

    async def scenario() -> None:
        assert await state.take(burst, 1, check=True) == 0  # Redis: 1 left
        assert await state.acquire_slot("d", "l1", 1)
        redis_server.stop()
        try:
            for _ in range(4):
                started = time.monotonic()
                await state.take([user("other")], 1, check=True)
                await state.acquire_slot("d2", uuid.uuid4().hex, 5)
                deployment = await share.deployment()
                assert time.monotonic() - started < 1.0
            assert deployment["store"]["available"] is False
            assert deployment["store"]["degraded_since"]
            assert len(deployment["workers"]) == 1  # this worker, live
            # meanwhile the fallback (this process) holds the limits
            assert await state.take(burst, 1, check=True) == 0
            assert await state.take(burst, 1, check=True) == 0
            assert await state.take(burst, 1, check=True) > 0
        finally:
            redis_server.start()
        deadline = time.monotonic() + 5
        while not link.available:
            assert time.monotonic() < deadline, "Redis not used again"
            await asyncio.sleep(0.2)
            await share.deployment()
        assert (await share.deployment())["store"]["available"] is True
        # Redis again (a fresh server: its buckets are full again)
        assert await state.take(burst, 1, check=True) == 0
        await share.stop()

    run(scenario())


def test_worker_share_heartbeat_and_totals(tmp_path) -> None:
    state = SqliteState(str(tmp_path / "s.sqlite"))
    share = WorkerShare(state)
    share.counters = lambda: {"served": 5, "by_status": {"2xx": 5}}

    async def scenario() -> None:
        other = worker_record({"served": 2, "by_status": {"2xx": 1, "4xx": 1}}, 1)
        await state.publish_worker({**other, "pid": 1})
        await state.publish_worker({**other, "pid": 2, "updated": time.time() - 30})  # stale
        share.start()
        await asyncio.sleep(0.2)
        deployment = await share.deployment()
        assert deployment["store"]["kind"] == "file"
        assert deployment["totals"] == {"served": 7, "by_status": {"2xx": 6, "4xx": 1}}
        assert {r["pid"] for r in deployment["workers"]} == {1, os.getpid()}
        await share.stop()

    run(scenario())


class NoRecords(SqliteState):
    """A store whose worker records fail (as Redis's do during an outage)."""

    async def publish_worker(self, record):
        raise StoreUnavailable("records refused")


def test_heartbeat_renews_held_slots_even_when_records_fail(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(worker, "HEARTBEAT", 0.05)
    monkeypatch.setattr(worker, "SLOT_RENEW", 0.2)
    monkeypatch.setattr(local, "SLOT_LEASE", 0.5)
    path = str(tmp_path / "s.sqlite")
    share = WorkerShare(NoRecords(path))
    slots = StreamSlots(1, share)
    other = SqliteState(path)  # another worker of the host
    digest = token_digest("tok")

    async def scenario() -> None:
        share.start()
        await slots.acquire("tok")
        await asyncio.sleep(1.2)  # more than two leases long
        assert not await other.acquire_slot(digest, "other", 1)  # still held
        slots.release("tok")
        await asyncio.sleep(0.2)
        assert await other.acquire_slot(digest, "other", 1)
        await share.stop()
        await other.close()

    run(scenario())


def test_sqlite_forgets_buckets_that_are_full_again(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(local, "PRUNE_EVERY", 2)
    state = SqliteState(str(tmp_path / "s.sqlite"))

    async def scenario() -> None:
        await state.take([user("gone", burst=1, rate=50.0)], 1, check=True)
        await asyncio.sleep(0.1)  # full again
        await state.take([user("kept")], 1, check=True)  # the 2nd call prunes
        names = await state._run(lambda db: [r[0] for r in db.execute("SELECT name FROM buckets")])
        assert names == ["user:kept"]
        await state.close()

    run(scenario())


def test_redis_index_drops_workers_whose_record_expired(redis_server) -> None:
    link = RedisLink(redis_server.url, timeout=0.25, prefix=f"t-{uuid.uuid4().hex[:8]}:")
    state = RedisState(link)

    async def scenario() -> None:
        await state.publish_worker(worker_record({}, 0))
        await state.publish_worker({**worker_record({}, 1), "pid": 1})
        ttl = await link.run(lambda r: r.ttl(link.key("worker", f"{socket.gethostname()}:1")))
        assert 0 < ttl <= 60
        await link.run(lambda r: r.delete(link.key("worker", f"{socket.gethostname()}:1")))
        assert [r["pid"] for r in await state.workers()] == [os.getpid()]
        assert await link.run(lambda r: r.scard(link.key("workers"))) == 1
        await state.close()

    run(scenario())
