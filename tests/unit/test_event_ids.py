"""Event ids derived from the event: the same on every worker, resumable anywhere."""

import asyncio
import re

from salt_ext_rest.events.bus import NOTICE_PREFIX, RESUME_WAIT, EventBus
from salt_ext_rest.events.history import EventHistory, content_id
from salt_ext_rest.events.redact import Redactor

INCOMPLETE = NOTICE_PREFIX + "resume_incomplete"


def events(n, prefix="t"):
    return [(f"{prefix}/{i}", {"n": i, "_stamp": f"2026-12-07T12:00:{i:02d}"}) for i in range(n)]


async def drain(sub, wait=0.0):
    got = []
    while (event := await sub.next(wait)) is not None:
        got.append(event)
        wait = 0.0
    return got


def test_ids_are_content_digests_the_same_on_every_worker_and_master():
    first, second = EventBus({}), EventBus({})
    ids = [first.publish(tag, data).id for tag, data in events(3)]
    # the same events as another master forwards them: with __peer_id added
    other = [second.publish(tag, {**data, "__peer_id": "m2"}).id for tag, data in events(3)]
    assert ids == other and len(set(ids)) == 3
    assert all(re.fullmatch("[0-9a-f]{18}", i) for i in ids)
    assert ids[0] == content_id("t/0", events(1)[0][1])
    # a repeat of identical content gets a suffix, on every worker alike
    assert [first.publish("t/0", events(1)[0][1]).id for _ in range(2)] == [
        f"{ids[0]}.1",
        f"{ids[0]}.2",
    ]


def test_streams_do_not_show_peer_id_and_ids_hash_the_redacted_data():
    async def scenario():
        bus = EventBus({}, redactor=Redactor(()))
        sub = bus.subscribe(None, lambda e: True)
        a = bus.publish("t", {"password": "a", "__peer_id": "m1", "_stamp": "x"})
        b = bus.publish("t", {"password": "b", "_stamp": "x"})
        return a, b, await drain(sub)

    a, b, got = asyncio.run(scenario())
    assert [e.data for e in got] == [{"password": "<redacted>", "_stamp": "x"}] * 2
    # the secret does not reach the id: both hash the same redacted content
    assert b.id == f"{a.id}.1"


def test_resume_on_another_worker_each_event_once():
    async def scenario():
        worker0, worker1 = EventBus({}), EventBus({})
        for tag, data in events(10):
            worker0.publish(tag, data)
            worker1.publish(tag, data)
        last = worker0.history.after(worker0.history.status()["oldest_id"])[3].id  # t/4
        sub = worker1.subscribe(None, lambda e: True, last_id=last)
        return [e.tag for e in await drain(sub)]

    assert asyncio.run(scenario()) == [f"t/{n}" for n in range(5, 10)]


def test_resume_from_an_event_not_arrived_yet_waits_for_it():
    # Worker 1 is behind worker 0: the client's last id reaches it a moment later.
    async def scenario():
        ahead, behind = EventBus({}), EventBus({})
        ids = [ahead.publish(tag, data).id for tag, data in events(6)]
        for tag, data in events(2):
            behind.publish(tag, data)
        sub = behind.subscribe(None, lambda e: True, last_id=ids[3])
        assert behind.waiting and await drain(sub) == []
        for tag, data in events(6)[2:]:  # t/2, t/3 (the client had them), then t/4, t/5
            behind.publish(tag, data)
        return [e.tag for e in await drain(sub)], behind.waiting

    tags, waiting = asyncio.run(scenario())
    assert tags == ["t/4", "t/5"] and not waiting


def test_unknown_id_is_announced_then_live_events_follow():
    async def scenario():
        bus = EventBus({})
        sub = bus.subscribe(None, lambda e: True, last_id="0123456789abcdef01")
        bus.publish("t/live", {"n": 1})
        started = asyncio.get_running_loop().time()
        got = await drain(sub, wait=2)
        return got, asyncio.get_running_loop().time() - started

    got, waited = asyncio.run(scenario())
    assert [e.tag for e in got] == [INCOMPLETE, "t/live"]
    assert got[0].data["missed"] is True and got[0].id == ""
    assert waited < RESUME_WAIT + 0.3


def test_too_old_id_is_announced_at_once():
    async def scenario():
        bus = EventBus({}, replay_size=2)
        ids = [bus.publish(tag, data).id for tag, data in events(4)]
        sub = bus.subscribe(None, lambda e: True, last_id=ids[0])
        return await drain(sub), bus.waiting

    (notice,), waiting = asyncio.run(scenario())
    assert notice.tag == INCOMPLETE and "older" in notice.data["reason"] and not waiting


def test_history_is_dropped_when_the_bus_is_lost():
    async def scenario():
        bus = EventBus({})
        ids = [bus.publish(tag, data).id for tag, data in events(3)]
        live = bus.subscribe(None, lambda e: True)
        await bus._on_disconnect()
        sub = bus.subscribe(None, lambda e: True, last_id=ids[0])
        return await drain(live), await drain(sub, wait=2), len(bus.history)

    live, resumed, kept = asyncio.run(scenario())
    assert [e.tag for e in live] == [NOTICE_PREFIX + "disconnected"] and live[0].id == ""
    assert [e.tag for e in resumed] == [INCOMPLETE] and kept == 0


def test_closing_a_waiting_resume_cancels_its_wait():
    async def scenario():
        bus = EventBus({})
        sub = bus.subscribe(None, lambda e: True, last_id="feedfeedfeedfeedfe")
        timer = bus.waiting[sub].timer
        bus.unsubscribe(sub)
        return bus.waiting, timer.cancelled()

    assert asyncio.run(scenario()) == ({}, True)


def test_history_bounds_repeats_and_status():
    history = EventHistory(2)
    bus = EventBus({}, replay_size=2)
    bus.history = history
    ids = [bus.publish("same", {"n": 1}).id for _ in range(3)]
    assert ids[1:] == [f"{ids[0]}.1", f"{ids[0]}.2"]
    assert history.evicted(ids[0]) and history.after(ids[1])[0].id == ids[2]
    status = bus.id_status()
    assert status["mode"] == "local" and status["history"] == {
        "size": 2, "capacity": 2, "oldest_id": ids[1], "newest_id": ids[2],
    }  # fmt: skip
