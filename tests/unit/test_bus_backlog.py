"""Events nobody wants are not decoded when they come; ids and history stay the same."""

import asyncio

import salt.utils.event

from salt_ext_rest.events import bus as bus_module
from salt_ext_rest.events.bus import EventBus
from salt_ext_rest.events.formatted_state import ViewState


def raw(tag, data):
    return salt.utils.event.SaltEvent.pack(tag, data)


EVENTS = [(f"t/{i}", {"n": i, "password": "s3cret", "_stamp": f"x{i}"}) for i in range(5)]


def counting_decode(monkeypatch):
    calls = []
    real = bus_module.decode

    def decode(body):
        calls.append(body)
        return real(body)

    monkeypatch.setattr(bus_module, "decode", decode)
    return calls


def test_nobody_subscribed_nothing_decoded_then_the_same_history(monkeypatch):
    lazy, eager = EventBus({}), EventBus({})
    calls = counting_decode(monkeypatch)
    for tag, data in EVENTS:
        lazy._publish_raw(raw(tag, data))
    assert calls == [] and len(lazy.backlog) == 5 and lazy.received == 5
    expected = [eager.publish(tag, data) for tag, data in EVENTS]

    async def resume():
        sub = lazy.subscribe(None, lambda e: True, last_id=expected[1].id)
        return [await sub.next(0) for _ in range(3)]

    got = asyncio.run(resume())
    assert [e.id for e in got] == [e.id for e in expected[2:]]
    assert [e.data for e in got] == [e.data for e in expected[2:]]  # redacted alike
    assert got[0].data["password"] != "s3cret" and not lazy.backlog


def test_a_tap_decodes_only_the_tags_it_follows(monkeypatch):
    bus = EventBus({})
    seen = []
    bus.subscribe(None, lambda e: seen.append(e.tag) and False, tags=ViewState.follows)
    calls = counting_decode(monkeypatch)
    bus._publish_raw(raw("bench/fanout/1", {"a": 1}))
    bus._publish_raw(raw("salt/auth", {"id": "m"}))
    assert calls == [] and len(bus.backlog) == 2
    bus._publish_raw(raw("salt/job/20261207000000000001/ret/m", {"id": "m", "return": True}))
    assert seen == ["salt/job/20261207000000000001/ret/m"]
    assert not bus.backlog and len(bus.history) == 3  # the backlog kept first, in order


def test_a_stream_decodes_every_event(monkeypatch):
    bus = EventBus({})
    sub = bus.subscribe(None, lambda e: True)
    calls = counting_decode(monkeypatch)
    bus._publish_raw(raw("bench/fanout/1", {"a": 1}))
    assert len(calls) == 1 and not bus.backlog
    bus.unsubscribe(sub)
    bus._publish_raw(raw("bench/fanout/2", {"a": 2}))
    assert len(calls) == 1 and len(bus.backlog) == 1


def test_job_returns_reach_their_waiter_without_any_stream(monkeypatch):
    bus = EventBus({})
    jid = "20261207000000000002"

    async def scenario():
        with bus.jobs.watch(jid, asyncio.Event()) as watch:
            bus._publish_raw(raw(f"salt/job/{jid}/ret/m", {"id": "m", "return": 1}))
            bus._publish_raw(raw("salt/job/20261207000000000003/ret/m", {"id": "m"}))
            return watch.drain()

    got = asyncio.run(scenario())
    assert got == [(f"salt/job/{jid}/ret/m", {"id": "m", "return": 1})]
    assert len(bus.backlog) == 2  # nobody streams: kept undecoded for the history


def test_events_dropped_undecoded_are_too_old_never_a_silent_gap():
    lazy, eager = EventBus({}, replay_size=3), EventBus({}, replay_size=100)
    many = [(f"t/{i}", {"n": i}) for i in range(10)]
    ids = [eager.publish(tag, data).id for tag, data in many]
    lazy.subscribe(None, lambda e: True)  # a stream for the first two: kept, decoded
    sub0 = next(iter(lazy.subscriptions))
    for tag, data in many[:2]:
        lazy._publish_raw(raw(tag, data))
    lazy.unsubscribe(sub0)
    for tag, data in many[2:]:  # nobody: 8 undecoded events, the backlog holds 3
        lazy._publish_raw(raw(tag, data))
    assert len(lazy.backlog) == 3

    async def resume(last_id):
        sub = lazy.subscribe(None, lambda e: True, last_id=last_id)
        return [await sub.next(0) for _ in range(len(sub._queue))]

    # as with every event decoded: the last 3 evicted ids are known to be too old
    for old in (ids[4], ids[5], ids[6]):  # dropped from the backlog undecoded
        (notice,) = asyncio.run(resume(old))
        assert notice.tag.endswith("resume_incomplete") and "older" in notice.data["reason"]
    got = asyncio.run(resume(ids[7]))
    assert [e.id for e in got] == ids[8:]
