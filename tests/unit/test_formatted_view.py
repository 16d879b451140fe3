"""The formatted minions/jobs view: its state machine fed BusEvents directly, and the
view's streams (snapshot, deltas, visibility, bounded history) without a master."""

import asyncio
import json
import time
import types

import pytest

from salt_ext_rest.auth.identity import Identity
from salt_ext_rest.config import RestConfig
from salt_ext_rest.events import formatted
from salt_ext_rest.events.bus import EventBus
from salt_ext_rest.events.filters import EventFilter
from salt_ext_rest.events.formatted import FormattedFormatter, FormattedView, job_timeout
from salt_ext_rest.events.formatted_state import ViewState, merge_patch
from salt_ext_rest.events.subscription import BusEvent, StreamClosed

T0 = 1000.0


def ev(tag, data=None, notice=False):
    return BusEvent("e-1", tag, data if data is not None else {}, notice=notice)


def new_job(jid, minions, fun="test.ping", user="saltdev"):
    data = {"jid": jid, "fun": fun, "tgt": minions, "tgt_type": "list", "user": user,
            "minions": minions, "_stamp": "2025-01-01T00:00:00.000000"}  # fmt: skip
    return ev(f"salt/job/{jid}/new", data)


def ret(jid, mid, success=True, retcode=0, fun="test.ping", value=True):
    data = {"jid": jid, "id": mid, "fun": fun, "return": value, "success": success,
            "retcode": retcode}  # fmt: skip
    return ev(f"salt/job/{jid}/ret/{mid}", data)


def messages(update):
    return [change.message for change in update.changes]


# -- the state machine -----------------------------------------------------------------
def test_job_runs_then_completes_when_every_minion_returned_even_failed():
    state = ViewState(history=10, timeout=15)
    [msg] = messages(state.apply(new_job("1", ["m1", "m2"]), T0))
    job = msg["jobs"]["1"]
    assert job["state"] == "running" and job["fun"] == "test.ping" and job["tgt_type"] == "list"
    assert job["minions"] == {
        "m1": {"success": False, "returned": False},
        "m2": {"success": False, "returned": False},
    }
    [msg] = messages(state.apply(ret("1", "m1"), T0 + 1))
    assert msg == {"jobs": {"1": {"jid": "1", "minions": {"m1": {
        "return": True, "retcode": 0, "success": True, "returned": True}}}}}  # fmt: skip
    [msg] = messages(state.apply(ret("1", "m2", success=False, retcode=1, value="boom"), T0 + 2))
    patch = msg["jobs"]["1"]
    assert patch["state"] == "complete"
    assert patch["minions"]["m2"] == {
        "return": "boom", "retcode": 1, "success": False, "returned": True}  # fmt: skip
    assert state.jobs["1"].record["state"] == "complete"
    assert state.expire_due(T0 + 100) == []


def test_job_times_out_naming_the_missing_minions_and_a_late_return_completes_it():
    state = ViewState(history=10, timeout=15)
    state.apply(new_job("1", ["m1", "m2", "m3"]), T0)
    state.apply(ret("1", "m1"), T0 + 1)
    assert state.expire_due(T0 + 14) == []
    [change] = state.expire_due(T0 + 15)
    assert change.message == {"jobs": {"1": {
        "jid": "1", "state": "timed_out", "missing": ["m2", "m3"]}}}  # fmt: skip
    assert state.expire_due(T0 + 30) == []  # reported once
    [msg] = messages(state.apply(ret("1", "m2"), T0 + 31))
    assert msg["jobs"]["1"]["missing"] == ["m3"]
    [msg] = messages(state.apply(ret("1", "m3"), T0 + 32))
    assert msg["jobs"]["1"]["state"] == "complete" and msg["jobs"]["1"]["missing"] is None
    assert "missing" not in state.jobs["1"].record


def test_find_job_answer_pushes_the_deadline_and_find_job_is_not_a_job():
    state = ViewState(history=10, timeout=15)
    state.apply(new_job("1", ["m1"]), T0)
    assert messages(state.apply(new_job("2", ["m1"], fun="saltutil.find_job"), T0 + 10)) == []
    poll = ret("2", "m1", fun="saltutil.find_job", value={"jid": "1", "fun": "test.sleep"})
    assert messages(state.apply(poll, T0 + 10)) == []
    assert state.expire_due(T0 + 20) == []
    assert state.expire_due(T0 + 25)[0].message["jobs"]["1"]["state"] == "timed_out"
    assert list(state.jobs) == ["1"]


def test_history_is_bounded_oldest_dropped_and_late_returns_ignored():
    state = ViewState(history=2, timeout=15)
    state.apply(new_job("1", ["m1"]), T0)
    state.apply(new_job("2", ["m1"]), T0)
    update = state.apply(new_job("3", ["m1"]), T0)
    assert messages(update)[1] == {"jobs": {"1": None}}
    assert list(state.jobs) == ["2", "3"]
    assert messages(state.apply(ret("1", "m1"), T0 + 1)) == []
    assert list(state.jobs) == ["2", "3"]


def test_return_of_an_unseen_job_is_adopted_as_complete():
    state = ViewState(history=10, timeout=15)
    [msg] = messages(state.apply(ret("9", "m1", fun="state.apply"), T0))
    job = msg["jobs"]["9"]
    assert job["state"] == "complete" and job["fun"] == "state.apply"
    assert job["minions"]["m1"]["returned"] is True
    assert state.jobs["9"].check.data["minions"] == ["m1"]


def test_minions_from_keys_start_and_presence():
    state = ViewState(history=10, timeout=15)
    update = state.apply(ev("salt/key", {"act": "accept", "id": "m1", "result": True}), T0)
    assert messages(update) == [{"minions": {"m1": {"id": "m1", "grains": {}}}}]
    assert update.grains == {"m1"}
    update = state.apply(ev("salt/minion/m1/start", {"id": "m1"}), T0)
    assert messages(update) == [] and update.grains == {"m1"}  # known: only re-read grains
    state.apply(ev("salt/minion/m2/start", {"id": "m2"}), T0)
    update = state.apply(ev("salt/presence/change", {"new": ["m3"], "lost": ["m1"]}), T0)
    assert messages(update) == [{"minions": {"m1": None}},
                                {"minions": {"m3": {"id": "m3", "grains": {}}}}]  # fmt: skip
    update = state.apply(ev("salt/presence/present", {"present": ["m3", "m4"]}), T0)
    assert messages(update) == [{"minions": {"m2": None}},
                                {"minions": {"m4": {"id": "m4", "grains": {}}}}]  # fmt: skip
    update = state.apply(ev("salt/key", {"act": "delete", "id": "m4", "result": True}), T0)
    assert messages(update) == [{"minions": {"m4": None}}]
    assert set(state.minions) == {"m3"}


def test_grains_are_sent_as_merge_patches_and_grains_items_updates_them():
    state = ViewState(history=10, timeout=15)
    [c] = state.sync_minions({"m1": {"os": "Debian", "cpu": {"n": 2, "f": 1}, "old": 1}})
    assert c.message == {"minions": {"m1": {"id": "m1", "grains": {
        "os": "Debian", "cpu": {"n": 2, "f": 1}, "old": 1}}}}  # fmt: skip
    assert state.set_grains("m1", {"os": "Debian", "cpu": {"n": 2, "f": 1}, "old": 1}) == []
    new = {"os": "Debian", "cpu": {"n": 4, "f": 1}, "kernel": "Linux"}
    update = state.apply(ret("5", "m1", fun="grains.items", value=new), T0)
    assert messages(update)[0] == {"minions": {"m1": {"id": "m1", "grains": {
        "cpu": {"n": 4}, "old": None, "kernel": "Linux"}}}}  # fmt: skip
    assert state.minions["m1"]["grains"] == new
    assert state.set_grains("unknown", {"os": "x"}) == []  # only known minions
    assert [c.message for c in state.sync_minions({})] == [{"minions": {"m1": None}}]


def test_merge_patch():
    assert merge_patch({"a": 1}, {"a": 1}) is not None
    assert merge_patch({"a": 1, "b": {"c": 1}}, {"b": {"c": 2}}) == {"a": None, "b": {"c": 2}}
    assert merge_patch([1], [1, 2]) == [1, 2]


ODD_EVENTS = [
    ("salt/job/x/ret", {"foo": [1]}),
    ("salt/job/x/ret/m1", {"foo": "no return"}),
    ("salt/job//ret/m1", {"return": 1}),
    ("salt/job/x/ret/", {"return": 1}),
    ("salt/job/x/new", {"minions": "m1"}),
    ("salt/job/x/new", {}),
    ("salt/job/x/new/extra", {"minions": ["m1"]}),
    ("salt/job/x/ret/m1", {"fun": "saltutil.find_job", "return": ["odd"]}),
    ("salt/job/x/ret/m1", {"fun": "grains.items", "return": "not a dict"}),
    ("salt/key", {"act": ["accept"], "id": "m9"}),
    ("salt/key", {"act": "accept", "id": 5}),
    ("salt/key", {"act": "accept", "id": "m9", "result": False}),
    ("salt/presence/present", {"present": 5}),
    ("salt/presence/change", {"new": None, "lost": {"a": 1}}),
    ("salt/minion//start", {}),
    ("salt", {}),
    ("", {}),
    ("salt/job", {}),
    ("x/y/z", {"minions": ["m1"]}),
]


@pytest.mark.parametrize(("tag", "data"), ODD_EVENTS)
def test_malformed_events_change_nothing_and_never_raise(tag, data):
    state = ViewState(history=10, timeout=15)
    state.apply(new_job("1", ["m1"]), T0)
    before = json.dumps(state.jobs["1"].record, sort_keys=True)
    update = state.apply(ev(tag, data), T0)
    if tag == "salt/job/x/ret/m1" and data.get("fun") == "grains.items":
        assert list(state.jobs) == ["1", "x"]  # a return (of an odd value) is still a return
    else:
        assert messages(update) == [] and list(state.jobs) == ["1"]
        assert state.minions == {}
    assert json.dumps(state.jobs["1"].record, sort_keys=True) == before


def test_new_job_without_minions_is_complete_at_once():
    state = ViewState(history=10, timeout=15)
    [msg] = messages(state.apply(new_job("1", []), T0))
    assert msg["jobs"]["1"]["state"] == "complete"
    assert state.expire_due(T0 + 100) == []


# -- the view and its streams ------------------------------------------------------------
class FakeGateway:
    def __init__(self, minions):
        self.minions = minions
        self.calls = []

    async def accepted_minions(self):
        self.calls.append("read_minions")
        return dict(self.minions)

    async def cached_grains(self, mids):
        self.calls.append("read_grains")
        return {mid: {"id": mid, "os": "Linux"} for mid in mids if mid != "bare"}

    async def get_token(self, token):
        return {"token": token}


class OnlyOwnJobs:
    """A visibility policy for tests: jobs of the caller only; minions for everyone."""

    name = "own"

    async def prepare(self, identity):
        def visible(event):
            parts = event.tag.split("/")
            return parts[1] != "job" or event.data.get("user") == identity.name

        return visible


class SomeMinions:
    """A policy whose ``minion()`` shows m1 with grains, m2 as a bare id, m3 not at all."""

    name = "minions"

    async def prepare(self, identity):
        class Visible:
            def __call__(self, event):  # jobs on m2 are hidden
                return event.data.get("minions") != ["m2"]

            def minion(self, mid):
                return {"m1": "grains", "m2": "id"}.get(mid)

        return Visible()


def make_context(**config):
    conf = RestConfig(port=0, disable_ssl=True, **{"event_visibility": "own", **config})
    context = types.SimpleNamespace(
        opts={"timeout": 5, "gather_job_timeout": 10},
        config=conf,
        gateway=FakeGateway({"m1": {"os": "Linux"}, "m2": {"os": "BSD"}}),
        visibility={"own": OnlyOwnJobs(), "minions": SomeMinions()},
    )
    context.bus = EventBus(context.opts, queue_size=conf.event_queue_size)
    return context


def identity(name="saltdev"):
    return Identity(name=name, eauth="auto", token="t-" + name, expire=time.time() + 3600)


async def drain(stream, count, timeout=2.0):
    got = []
    for _ in range(count):
        event = await stream.subscription.next(timeout=timeout)
        assert event is not None, got
        got.append(json.loads(stream.formatter.format(event)))
    return got


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 20))


def test_job_timeout_default_is_master_timeout_plus_gather_job_timeout():
    assert job_timeout(make_context()) == 15
    assert job_timeout(make_context(formatted_job_timeout=3)) == 3


def test_formatter_keeps_rest_tornado_framing():
    fmt = FormattedFormatter()
    event = formatted.view_event({"jobs": {}})
    assert fmt.format(event) == '{"jobs":{}}\n\n'
    assert FormattedFormatter("").format(event) == '{"jobs":{}}'
    assert fmt.format(ev("salt/netapi/rest_ext/stream/reconnected", notice=True)) is None


def test_stream_gets_snapshot_then_partial_deltas_for_what_it_may_see():
    async def scenario():
        context = make_context(formatted_job_history=2)
        view = FormattedView(context)
        view.start()
        view.wake()  # awake before the jobs: a stream opened earlier woke it
        bus = context.bus
        bus.publish("salt/job/1/new", new_job("1", ["m1"]).data)
        bus.publish("salt/job/2/new", new_job("2", ["m1"], user="other").data)
        stream = await view.open_stream(identity(), EventFilter())
        minions, jobs = await drain(stream, 2)
        assert minions == {"minions": {"m1": {"id": "m1", "grains": {"os": "Linux"}},
                                       "m2": {"id": "m2", "grains": {"os": "BSD"}}}}  # fmt: skip
        assert list(jobs["jobs"]) == ["1"]  # job 2 is someone else's
        bus.publish("salt/job/2/ret/m1", ret("2", "m1").data)  # invisible
        bus.publish("salt/job/1/ret/m1", ret("1", "m1").data)
        [delta] = await drain(stream, 1)
        assert delta["jobs"]["1"]["state"] == "complete"
        assert set(delta["jobs"]["1"]) == {"jid", "minions", "state"}
        bus.publish("salt/job/3/new", new_job("3", ["m2"]).data)
        got = await drain(stream, 2)
        assert got == [{"jobs": {"3": got[0]["jobs"]["3"]}}, {"jobs": {"1": None}}]
        bus.publish("salt/minion/m3/start", {"id": "m3"})
        added, grains = await drain(stream, 2)
        assert added == {"minions": {"m3": {"id": "m3", "grains": {}}}}
        assert grains == {"minions": {"m3": {"id": "m3", "grains": {"id": "m3", "os": "Linux"}}}}
        other = await view.open_stream(identity("other"), EventFilter.build(jids=["2"]))
        minions, jobs = await drain(other, 2)
        assert minions == {"minions": {}} and list(jobs["jobs"]) == ["2"]
        stream.close()
        other.close()
        await view.stop()
        assert "read_minions" in context.gateway.calls

    run(scenario())


def test_odd_event_on_the_bus_does_not_break_the_view():
    async def scenario():
        context = make_context()
        view = FormattedView(context)
        view.start()
        stream = await view.open_stream(identity(), EventFilter())
        await drain(stream, 2)
        for tag, data in ODD_EVENTS:
            context.bus.publish(tag, data)
        context.bus.publish("salt/job/7/new", new_job("7", ["m1"]).data)
        # (the odd grains.items return adopts job "x": nobody's job, so not shown here)
        [started] = await drain(stream, 1)
        assert started["jobs"]["7"]["state"] == "running"
        assert "x" in view.state.jobs
        assert await stream.subscription.next(timeout=0.2) is None
        await view.stop()

    run(scenario())


def test_view_times_jobs_out_and_streams_end_on_shutdown():
    async def scenario():
        context = make_context(formatted_job_timeout=0.2)
        view = FormattedView(context)
        view.start()
        stream = await view.open_stream(identity(), EventFilter())
        await drain(stream, 2)
        context.bus.publish("salt/job/1/new", new_job("1", ["m1", "m2"]).data)
        context.bus.publish("salt/job/1/ret/m2", ret("1", "m2").data)
        await drain(stream, 2)
        [timed_out] = await drain(stream, 1)
        assert timed_out["jobs"]["1"] == {"jid": "1", "state": "timed_out", "missing": ["m1"]}
        await view.stop()
        with pytest.raises(StreamClosed):
            await stream.subscription.next(timeout=1)

    run(scenario())


def test_logout_closes_view_streams():
    async def scenario():
        context = make_context()
        view = FormattedView(context)
        view.start()
        stream = await view.open_stream(identity(), EventFilter())
        assert context.bus.close_token("t-saltdev", "logged out") == 1
        with pytest.raises(StreamClosed):
            await stream.subscription.next(timeout=1)
        stream.close()
        await view.stop()

    run(scenario())


def test_minions_are_shown_with_grains_as_bare_ids_or_not_per_the_policy():
    async def scenario():
        context = make_context(event_visibility="minions")
        view = FormattedView(context)
        view.start()
        stream = await view.open_stream(identity(), EventFilter())
        minions, _jobs = await drain(stream, 2)
        assert minions == {"minions": {"m1": {"id": "m1", "grains": {"os": "Linux"}},
                                       "m2": {"id": "m2", "grains": {}}}}  # fmt: skip
        context.bus.publish("salt/job/9/ret/m2", {**ret("9", "m2").data, "fun": "grains.items",
                                                  "return": {"os": "Plan9"}})  # fmt: skip
        context.bus.publish("salt/minion/m3/start", {"id": "m3"})
        context.bus.publish("salt/job/8/ret/m1", {**ret("8", "m1").data, "fun": "grains.items",
                                                  "return": {"os": "Hurd"}})  # fmt: skip
        got = []
        while True:
            event = await stream.subscription.next(timeout=0.5)
            if event is None:
                break
            got.append(json.loads(stream.formatter.format(event)))
        text = json.dumps(got)
        assert "Plan9" not in text and "m3" not in text and "Hurd" in text
        assert {"minions": {"m2": {"id": "m2", "grains": {}}}} in got
        stream.close()
        await view.stop()

    run(scenario())


def test_view_sleeps_until_a_stream_and_again_after_nobody_watched(monkeypatch):
    """Nobody watching: the view follows no bus event (no decode for it); the first
    stream wakes it; DORMANT_AFTER without a stream puts it back to sleep."""
    monkeypatch.setattr("salt_ext_rest.events.formatted.DORMANT_AFTER", 0.3)
    monkeypatch.setattr("salt_ext_rest.events.formatted.SWEEP_INTERVAL", 0.05)

    async def scenario():
        context = make_context()
        view, bus = FormattedView(context), context.bus
        view.start()
        await asyncio.sleep(0.05)
        assert not bus.subscriptions and not bus._wanted("salt/job/1/new")
        bus.publish("salt/job/1/new", new_job("1", ["m1"]).data)
        assert view.state.jobs == {}
        stream = await view.open_stream(identity(), EventFilter())
        await drain(stream, 2)
        assert bus._wanted("salt/job/2/new")
        bus.publish("salt/job/2/new", new_job("2", ["m1"]).data)
        [started] = await drain(stream, 1)
        assert started["jobs"]["2"]["state"] == "running"
        stream.close()
        for _ in range(40):
            await asyncio.sleep(0.05)
            if not bus._wanted("salt/job/3/new"):
                break
        assert not bus._wanted("salt/job/3/new") and view.state.jobs == {}
        again = await view.open_stream(identity(), EventFilter())
        await drain(again, 2)
        assert bus._wanted("salt/job/3/new")
        again.close()
        await view.stop()

    run(scenario())
