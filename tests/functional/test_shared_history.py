"""The shared event history against a real redis-server: two buses (two masters, or two
workers) fed the same events deliver them in one order with the same ids, a stream
resumes on the other, and a Redis outage falls back to local ids and back again."""

from __future__ import annotations

import asyncio
import time
import uuid

from salt_ext_rest.events.bus import NOTICE_PREFIX, EventBus
from salt_ext_rest.events.shared_history import attach_shared_history
from salt_ext_rest.shared.redis_link import RedisLink

INCOMPLETE = NOTICE_PREFIX + "resume_incomplete"
SWITCH = NOTICE_PREFIX + "shared_history"


def make_buses(url: str, count: int = 2, size: int = 10000) -> list[EventBus]:
    prefix = f"t-{uuid.uuid4().hex[:8]}:"
    buses = []
    for _ in range(count):
        bus = EventBus({})
        attach_shared_history(bus, RedisLink(url, 0.25, prefix), size)
        bus.shared.start()  # the bus itself (master subscription) is fed by hand
        buses.append(bus)
    return buses


async def until(predicate, timeout: float = 5.0, what=None) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out: {what}"
        await asyncio.sleep(0.02)


async def collect(sub, into: list, stop: asyncio.Event) -> None:
    while not stop.is_set():
        event = await sub.next(0.05)
        if event is not None:
            into.append(event)


def fire(buses, tags, peer=True):
    for tag in tags:
        data = {"tag": tag, "_stamp": f"{time.time():.6f}"}
        for n, bus in enumerate(buses):
            bus.publish(tag, {**data, "__peer_id": f"m{n}"} if peer else data)


def test_two_masters_one_order_same_ids_and_resume_on_the_other(redis_server) -> None:
    async def scenario():
        a, b = make_buses(redis_server.url)
        await until(lambda: a.shared.active and b.shared.active)
        got_a, got_b, stop = [], [], asyncio.Event()
        sub_a, sub_b = (bus.subscribe(None, lambda e: True) for bus in (a, b))
        tasks = [
            asyncio.create_task(collect(s, g, stop)) for s, g in ((sub_a, got_a), (sub_b, got_b))
        ]
        fire([a, b], [f"t/{n}" for n in range(10)])
        fire([b, a], [f"t/{n}" for n in range(10, 20)])  # b sees these first
        await until(lambda: len(got_a) == 20 and len(got_b) == 20)
        # a stream that read 7 events on a resumes on b: the 13 others, once each
        resumed = b.subscribe(None, lambda e: True, last_id=got_a[6].id)
        fire([a, b], [f"t/{n}" for n in range(20, 25)])
        rest: list = []
        tasks.append(asyncio.create_task(collect(resumed, rest, stop)))
        await until(lambda: len(rest) >= 18 and len(got_a) == 25)
        await asyncio.sleep(0.3)  # nothing more (no duplicate) arrives
        bogus = b.subscribe(None, lambda e: True, last_id="0" * 18)
        notice = await bogus.next(2)
        stop.set()
        await asyncio.gather(*tasks)
        status = b.id_status()
        for bus in (a, b):
            await bus.stop()
        return got_a, got_b, rest, notice, status

    got_a, got_b, rest, notice, status = asyncio.run(scenario())
    assert [e.id for e in got_a] == [e.id for e in got_b]
    assert [e.tag for e in got_a][:20] == [f"t/{n}" for n in range(20)]
    assert all("__peer_id" not in e.data for e in got_a + got_b)
    assert [e.tag for e in rest] == [f"t/{n}" for n in range(7, 25)]
    assert notice.tag == INCOMPLETE and notice.data["missed"] is True and notice.id == ""
    assert status["mode"] == "shared" and status["shared"]["store"]["available"] is True
    assert status["shared"]["added"] + 0 >= 0 and status["shared"]["read"] == 25


def test_each_event_enters_the_stream_once(redis_server) -> None:
    async def scenario():
        buses = make_buses(redis_server.url, count=3)
        await until(lambda: all(bus.shared.active for bus in buses))
        for start in range(0, 1200, 100):  # more than one batch; a bus yields between events
            fire(buses, [f"x/{n}" for n in range(start, start + 100)])
            await asyncio.sleep(0)
        await until(lambda: all(bus.shared.read == 1200 for bus in buses), timeout=15)
        added = sum(bus.shared.added for bus in buses)
        length = await buses[0].shared.link.run(lambda c: c.xlen(buses[0].shared.key))
        for bus in buses:
            await bus.stop()
        return added, length

    assert asyncio.run(scenario()) == (1200, 1200)


def test_redis_outage_falls_back_to_local_and_switches_back(redis_server) -> None:
    async def scenario():
        (bus,) = make_buses(redis_server.url, count=1)
        await until(lambda: bus.shared.active)
        got, stop = [], asyncio.Event()
        sub = bus.subscribe(None, lambda e: True)
        task = asyncio.create_task(collect(sub, got, stop))
        fire([bus], ["before/0"])
        await until(lambda: len(got) == 1)
        redis_server.stop()
        try:
            started = time.monotonic()
            fire([bus], ["during/0"])  # never waits on the dead store
            assert time.monotonic() - started < 0.1
            await until(lambda: any(e.tag == SWITCH for e in got), timeout=2)
            fire([bus], ["during/1"])
            await until(lambda: [e.tag for e in got][-1] == "during/1", timeout=2)
            local_status = bus.id_status()
        finally:
            redis_server.start()
        await until(lambda: bus.shared.active, timeout=5)
        fire([bus], ["after/0"])
        await until(
            lambda: [e.tag for e in got][-1] == "after/0",
            timeout=5,
            what=(got, bus.shared.link.status()),
        )
        stop.set()
        await task
        await bus.stop()
        return got, local_status

    got, local_status = asyncio.run(scenario())
    tags = [e.tag for e in got]
    assert tags == ["before/0", SWITCH, "during/0", "during/1", SWITCH, "after/0"], (
        tags,
        [e.data for e in got if e.notice],
    )
    local, shared = (e for e in got if e.tag == SWITCH)
    assert local.data == {**local.data, "missed": True, "mode": "local"} and local.id == ""
    assert shared.data["mode"] == "shared" and shared.data["missed"] is True
    assert local_status["mode"] == "local"
    assert local_status["shared"]["store"]["available"] is False


def test_a_worker_started_later_resumes_from_the_redis_index(redis_server) -> None:
    # The new worker never read these entries: the index in Redis finds the id, long
    # after it was added; an id trimmed away with the stream gets the notice.
    async def scenario():
        (old,) = make_buses(redis_server.url, count=1, size=100)
        await until(lambda: old.shared.active)
        live, stop = [], asyncio.Event()
        watcher = asyncio.create_task(collect(old.subscribe(None, lambda e: True), live, stop))
        # one burst of 4x the history: trimmed before it is read, and the reader says so
        fire([old], [f"r/{n}" for n in range(400)], peer=False)
        await until(lambda: live and live[-1].tag == "r/399")
        ids = [e.id for e in old.history.after(old.history.status()["oldest_id"])]
        prefix = old.shared.link.prefix
        new = EventBus({})
        attach_shared_history(new, RedisLink(redis_server.url, 0.25, prefix), 100)
        new.shared.start()
        await until(lambda: new.shared.active)
        resumed = new.subscribe(None, lambda e: True, last_id=ids[-11])  # r/389
        trimmed = new.subscribe(None, lambda e: True, last_id=old.history.status()["oldest_id"])
        rest: list = []
        task = asyncio.create_task(collect(resumed, rest, stop))
        await until(lambda: len(rest) == 10)
        notice = await trimmed.next(2)
        stop.set()
        await asyncio.gather(task, watcher)
        index = await new.shared.link.run(lambda c: c.hlen(new.shared.ids_key))
        for bus in (old, new):
            await bus.stop()
        return live, [e.tag for e in rest], notice, index

    live, rest, notice, index = asyncio.run(scenario())
    (gap,) = [e for e in live if e.notice]
    assert gap.tag == SWITCH and gap.data["missed"] is True and gap.data["mode"] == "shared"
    assert len(live) < 400 and [e.tag for e in live[-3:]] == ["r/397", "r/398", "r/399"]
    assert rest == [f"r/{n}" for n in range(390, 400)]
    assert notice.tag == INCOMPLETE and notice.data["missed"] is True
    assert index <= 100 + 10 + 100
