"""Waiting for job returns fed by the bus: Salt's timeout and find_job rules."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest

from salt_ext_rest.backend import job_wait
from salt_ext_rest.events.job_returns import JobReturns

JID = "20261207150000000001"
FIND = "20261207150000000002"


def ret(mid: str, value: object = True, jid: str = JID, **extra: object) -> tuple[str, dict]:
    return f"salt/job/{jid}/ret/{mid}", {"id": mid, "return": value, "retcode": 0, **extra}


def run(scenario: Callable[[], Awaitable[None]]) -> Callable[[], None]:
    """A test that runs ``scenario`` on a fresh event loop."""

    def test() -> None:
        asyncio.run(scenario())

    test.__name__ = scenario.__name__
    return test


def feed(returns: JobReturns, *events: tuple[str, dict]) -> None:
    for tag, data in events:
        if returns.wants(tag):
            returns.feed(tag, data)


async def no_find_job(pending: set[str]) -> None:
    raise AssertionError(f"find_job asked for {pending}")


@run
async def test_all_returned_ends_at_once() -> None:
    returns = JobReturns()
    with returns.watch(JID, asyncio.Event()) as watch:
        loop = asyncio.get_running_loop()
        loop.call_later(0.05, feed, returns, ret("a"), ret("b", {"x": 1}), ret("a", False))
        started = time.monotonic()
        got = await job_wait.gather(watch, {"a", "b"}, 5, 5, no_find_job)
    assert time.monotonic() - started < 1
    assert got.returns == {
        "a": {"ret": True, "retcode": 0},  # the replayed duplicate is ignored
        "b": {"ret": {"x": 1}, "retcode": 0},
    }
    assert not got.missing and not returns.jobs


@run
async def test_silent_minion_is_asked_then_missing() -> None:
    returns, asked = JobReturns(), []

    async def find_job(pending: set[str]) -> None:
        asked.append(set(pending))
        return None  # nobody accepted to ask

    with returns.watch(JID, asyncio.Event()) as watch:
        feed(returns, ret("a"))
        started = time.monotonic()
        got = await job_wait.gather(watch, {"a", "b"}, 0.2, 0.2, find_job)
    waited = time.monotonic() - started
    assert asked == [{"b"}]
    assert got.missing == {"b"} and set(got.returns) == {"a"}
    assert 0.35 <= waited < 2  # timeout, then gather_job_timeout


@run
async def test_minion_still_running_gets_more_time() -> None:
    returns, asked = JobReturns(), []
    wake = asyncio.Event()
    loop = asyncio.get_running_loop()
    with returns.watch(JID, wake) as watch, returns.watch(FIND, wake) as jinfo:

        async def find_job(pending: set[str]):
            asked.append(set(pending))
            running = {"jid": JID, "fun": "test.sleep"}  # b: still running the job
            loop.call_later(0.02, feed, returns, ret("b", running, jid=FIND))
            if len(asked) == 1:
                loop.call_later(0.4, feed, returns, ret("b", "late"))
            return jinfo

        feed(returns, ret("a"))
        got = await job_wait.gather(watch, {"a", "b"}, 0.2, 0.1, find_job)
    assert got.returns["b"]["ret"] == "late" and not got.missing
    assert len(asked) >= 2 and all(pending == {"b"} for pending in asked)  # asked again


@run
async def test_find_job_not_running_answer_does_not_extend() -> None:
    returns = JobReturns()
    wake = asyncio.Event()
    with returns.watch(JID, wake) as watch, returns.watch(FIND, wake) as jinfo:

        async def find_job(pending: set[str]):
            feed(returns, ret("b", {}, jid=FIND))  # not running it any more
            return jinfo

        started = time.monotonic()
        got = await job_wait.gather(watch, {"b"}, 0.1, 0.1, find_job)
    assert got.missing == {"b"} and time.monotonic() - started < 1


def test_registry_decodes_only_awaited_events() -> None:
    returns = JobReturns()
    assert not returns.wants(f"salt/job/{JID}/ret/a")
    with returns.watch(JID, asyncio.Event()) as watch:
        assert returns.wants(f"salt/job/{JID}/ret/a")
        assert returns.wants(f"salt/job/{JID}/new")
        assert not returns.wants(f"salt/job/{FIND}/ret/a")
        assert not returns.wants("salt/run/1/ret") and not returns.wants("salt/auth")
        feed(returns, ret("a"))
        assert [tag for tag, _ in watch.drain()] == [f"salt/job/{JID}/ret/a"]
    assert not returns.wants(f"salt/job/{JID}/ret/a")


def test_resource_ids_are_their_own_rows() -> None:
    got = job_wait.Gathered(minions={"m", "r1"})
    tag, data = ret("m", resource_id="r1")
    job_wait.take_return(JID, tag, data, got)
    assert set(got.returns) == {"r1"} and got.missing == {"m"}


@run
async def test_runner_return_before_its_jid_is_known() -> None:
    returns = JobReturns()
    with returns.publishing_run():
        assert returns.wants("salt/run/1/ret") and not returns.wants("salt/run/1/new")
        returns.feed("salt/run/1/ret", {"return": 42})  # before the master answered
        early = await returns.run_return("salt/run/1/ret", 1)
        asyncio.get_running_loop().call_later(0.05, returns.feed, "salt/run/2/ret", {"return": 7})
        later = await returns.run_return("salt/run/2/ret", 1)
    assert early == {"tag": "salt/run/1/ret", "data": {"return": 42}}
    assert later is not None and later["data"] == {"return": 7}
    assert not returns.early and not returns.wants("salt/run/3/ret")


@run
async def test_runner_return_times_out() -> None:
    returns = JobReturns()
    with returns.publishing_run():
        assert await returns.run_return("salt/run/9/ret", 0.05) is None
    assert not returns.runs


@pytest.mark.parametrize(
    "data, verdict",
    [
        ({"id": "b", "return": {"jid": JID}}, True),
        ({"id": "b", "return": {}}, None),
        ({"id": "b", "return": "error text"}, None),
        ({"id": "b", "return": {"return": {}}}, None),
        ({"id": "b", "return": {"jid": JID}, "retcode": 1}, False),
    ],
)
def test_find_job_answers(data: dict, verdict: bool | None) -> None:
    assert job_wait.still_running(data) is verdict


def test_listed_unknown_minion_is_never_returned() -> None:
    got = job_wait.Gathered(minions={"m"})
    new = {"jid": JID, "minions": ["m"], "missing": ["ghost"]}
    job_wait.take_return(JID, f"salt/job/{JID}/new", new, got)
    job_wait.take_return(JID, *ret("m"), got)
    assert not got.missing and got.never_returned == {"ghost"}


def test_find_job_answers_are_kept_for_the_envelope() -> None:
    got = job_wait.Gathered(minions={"a", "b", "c"})
    job_wait.take_return(JID, f"salt/job/{JID}/new", {"minions": ["a"], "user": "u"}, got)
    job_wait.take_return(JID, *ret("a", success=False), got)
    assert got.success == {"a": False} and got.new["user"] == "u"
    assert job_wait.take_answer({"id": "b", "return": {}}, got) is None  # not running it
    assert job_wait.take_answer({"id": "c", "return": {"jid": JID}}, got) == "c"
    assert got.not_running == {"b"}


def test_local_envelope_statuses() -> None:
    from salt_ext_rest.backend.local_status import local_envelope

    chunk = {"fun": "test.retcode", "tgt": "*"}
    returns = {"a": {"ret": True, "retcode": 42}, "b": {"ret": False, "retcode": 0}}
    targeted = {"a", "b", "late", "gone", "off"}
    body = local_envelope(chunk, JID, targeted, returns, {"b": True}, {"late", "gone"}, {"gone"})
    status = {mid: entry["status"] for mid, entry in body["minions"].items()}
    assert status == {"a": "returned", "b": "returned", "gone": "did_not_return",
                      "late": "timed_out", "off": "not_connected"}  # fmt: skip
    assert body["minions"]["a"]["success"] is False  # retcode 42, whatever the value
    assert body["minions"]["b"]["success"] is True  # Salt's flag, not the False value
    assert body["summary"]["ok"] is False and body["target_type"] == "glob"


def test_deadlines_give_the_latest_and_the_next_ahead_of_pending_minions_only():
    from salt_ext_rest.backend.job_wait import Deadlines

    deadlines = Deadlines()
    for mid, when in (("a", 10.0), ("b", 20.0), ("c", 30.0)):
        deadlines.setdefault(mid, when)
    deadlines.setdefault("a", 99.0)  # a minion's first deadline stays
    assert deadlines.last({"a", "b", "c"}) == 30.0
    assert deadlines.last({"a", "b"}) == 20.0  # c returned
    assert deadlines.next_after(5.0, {"a", "b"}) == 10.0
    assert deadlines.next_after(10.0, {"a", "b"}) == 20.0
    deadlines.push("a", 40.0)  # find_job: a still runs the job
    assert deadlines.last({"a", "b"}) == 40.0
    assert deadlines.next_after(10.0, {"a", "b"}) == 20.0
    assert deadlines.next_after(25.0, {"a"}) == 40.0
    assert deadlines.last(set()) is None and deadlines.next_after(0.0, set()) is None


def test_minions_given_their_first_deadline_together_share_one_entry():
    from salt_ext_rest.backend.job_wait import Deadlines

    deadlines = Deadlines()
    deadlines.setdefault_many(["a", "b", "c"], 10.0)
    assert len(deadlines._latest) == 1 and "" not in deadlines.at
    deadlines.setdefault_many(["c", "d"], 20.0)  # c keeps its first deadline
    assert deadlines.at == {"a": 10.0, "b": 10.0, "c": 10.0, "d": 20.0}
    assert deadlines.last({"a", "d"}) == 20.0
    assert deadlines.last({"a", "b"}) == 10.0  # d returned
    assert deadlines.next_after(5.0, {"b"}) == 10.0
    deadlines.push("b", 40.0)  # find_job: b still runs the job
    assert deadlines.next_after(5.0, {"b"}) == 40.0  # the shared 10.0 is no one's now
    assert deadlines.last({"a", "b"}) == 40.0
    assert deadlines.next_after(10.0, {"a"}) is None
    assert deadlines.last({"c"}) == 10.0  # its own entry (pushed again for d's batch)


def test_pending_follows_returns_new_minions_and_find_job_answers():
    from salt_ext_rest.backend.job_wait import Gathered, take_answer, take_return

    got = Gathered(minions={"m1", "m2"})
    assert got.pending == {"m1", "m2"} and sorted(got.take_fresh()) == ["m1", "m2"]
    take_return("1", "salt/job/1/ret/m1", {"id": "m1", "return": True}, got)
    take_return("1", "salt/job/1/new", {"minions": ["m2", "m3"]}, got)
    assert got.pending == {"m2", "m3"} and got.take_fresh() == ["m3"]
    take_answer({"id": "m3", "return": {}, "retcode": 1}, got)  # failed: not a target
    assert got.pending == {"m2"} and got.missing == got.minions - set(got.returns)
    take_answer({"id": "m4", "return": {"jid": "1"}}, got)  # still runs it
    assert got.pending == {"m2", "m4"} == got.minions - set(got.returns)


@run
async def test_the_watch_has_slack_only_while_many_minions_are_pending() -> None:
    returns = JobReturns()
    many = {f"m{i}" for i in range(job_wait.PROMPT_LAST + 3)}
    with returns.watch(JID, asyncio.Event()) as watch:
        task = asyncio.ensure_future(job_wait.gather(watch, many, 5, 1, no_find_job))
        await asyncio.sleep(0)
        assert watch.slack == 3
        assert returns.relaxed()
        for mid in sorted(many)[:3]:
            feed(returns, ret(mid))
        assert not returns.relaxed()  # before the waiter even ran
        for mid in sorted(many)[3:]:
            feed(returns, ret(mid))
        got = await asyncio.wait_for(task, 2)
    assert set(got.returns) == many and not got.missing


def test_the_hold_lasts_half_the_slack_at_the_pace_returns_came_within_bounds():
    from salt_ext_rest.events import job_returns
    from salt_ext_rest.events.job_returns import JobWatch

    watch = JobWatch(JID, asyncio.Event())
    start = time.monotonic()
    assert watch.hold(start) == 0.0  # no slack: read at once
    watch.slack = 1000
    watch._paced = (start, 0)
    for i in range(10):
        watch.put(f"salt/job/{JID}/ret/m{i}", {"return": True})
    # 10 returns in 1 s, 990 more to come before the slack runs out: 99 s, at most the max
    assert watch.hold(start + 1.0) == job_returns.JOB_WAIT_MAX
    assert watch.read_every() == job_returns.JOB_HOLD_MAX  # the bus is read meanwhile
    watch.slack = 18
    for i in range(10):
        watch.put(f"salt/job/{JID}/ret/n{i}", {"return": True})
    assert watch.hold(start + 2.0) == pytest.approx(8 / 10 / 2)  # 8 left at 10/s: half
    watch.slack = 11
    for i in range(10):
        watch.put(f"salt/job/{JID}/ret/o{i}", {"return": True})
    assert watch.hold(start + 2.1) == job_returns.JOB_HOLD  # at least the old 0.1 s
    watch.slack = 10_000
    for i in range(200):
        watch.put(f"salt/job/{JID}/ret/p{i}", {"return": True})
    # 200 returns in 0.6 s: held up to the max, the bus read before HOLD_EVENTS of them
    # come (the socket's buffer)
    assert watch.hold(start + 2.7) == job_returns.JOB_WAIT_MAX
    assert watch.read_every() == pytest.approx(job_returns.HOLD_EVENTS * 0.6 / 200)
    watch.slack = 1000
    watch.until = time.time() + 0.5  # the call's timeout comes first
    assert 0.4 < watch.hold(start + 4.0) <= 0.5
    watch.until = time.time() - 1
    assert watch.hold(start + 5.0) == 0.0
