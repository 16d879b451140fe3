"""Readiness aggregation: checks side by side, each bounded, one round per second."""

import asyncio
import logging
import time

import pytest

from salt_ext_rest.backend.probes import PROBE_EAUTH, ProbeFailed, probe_token_store
from salt_ext_rest.operations.readiness import Readiness


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def counting(result="fine", delay=0.0, error=None):
    """A check that counts its runs, waits ``delay``, then passes or raises ``error``."""
    calls = []

    async def check():
        calls.append(time.monotonic())
        await asyncio.sleep(delay)
        if error is not None:
            raise error
        return result

    check.calls = calls
    return check


def test_all_pass_is_ready_and_details_only_when_asked():
    checks = {"master": counting("echoed"), "bus": counting("connected")}
    report = asyncio.run(Readiness(checks, timeout=1).report())
    assert report.ready and report.failing == []
    assert report.body(details=False) == {"ready": True, "failing": []}
    details = report.body(details=True)["checks"]
    assert set(details) == {"master", "bus"}
    assert details["master"]["ok"] is True and details["master"]["detail"] == "echoed"
    assert isinstance(details["master"]["ms"], float)


def test_a_failing_check_is_listed_with_its_reason():
    checks = {
        "master": counting(error=RuntimeError("refused\nsecond line")),
        "bus": counting(),
        "token_store": counting(error=ProbeFailed("mismatch")),
    }
    report = asyncio.run(Readiness(checks, timeout=1).report())
    assert not report.ready
    assert report.failing == ["master", "token_store"]
    body = report.body(details=True)
    assert body["ready"] is False and body["failing"] == ["master", "token_store"]
    assert body["checks"]["master"] == {**body["checks"]["master"], "ok": False}
    assert body["checks"]["master"]["detail"] == "refused"  # first line only
    assert body["checks"]["bus"]["ok"] is True


def test_checks_run_side_by_side():
    checks = {name: counting(delay=0.2) for name in ("a", "b", "c")}
    started = time.monotonic()
    report = asyncio.run(Readiness(checks, timeout=2).report())
    assert report.ready
    assert time.monotonic() - started < 0.5  # not 0.6: at once


def test_a_slow_check_is_bounded_and_not_started_again_while_it_runs():
    clock = Clock()
    slow, quick = counting(delay=0.5), counting()
    readiness = Readiness({"master": slow, "bus": quick}, timeout=0.1, clock=clock)

    async def scenario():
        started = time.monotonic()
        first = await readiness.report()
        took = time.monotonic() - started
        clock.now += 5  # the report is stale: a new round
        second = await readiness.report()
        await asyncio.sleep(0.6)  # the slow check ends
        clock.now += 5
        third = await readiness.report()
        return first, took, second, third

    first, took, second, third = asyncio.run(scenario())
    assert took < 0.4
    assert first.failing == ["master"]
    assert first.outcomes["master"].detail == "no answer within 0.1s"
    assert second.failing == ["master"]
    assert second.outcomes["master"].detail.startswith("the previous check is still running")
    assert len(slow.calls) == 2  # first round, third round; never during the second
    assert third.failing == ["master"]  # started again, bounded again
    assert len(quick.calls) == 3


def test_reports_are_reused_for_max_age_and_concurrent_callers_share_one_round():
    clock = Clock()
    check = counting(delay=0.05)
    readiness = Readiness({"master": check}, timeout=1, max_age=1.0, clock=clock)

    async def scenario():
        reports = await asyncio.gather(*(readiness.report() for _ in range(50)))
        clock.now += 0.5
        again = await readiness.report()
        clock.now += 0.6
        fresh = await readiness.report()
        return reports, again, fresh

    reports, again, fresh = asyncio.run(scenario())
    assert len({id(r) for r in reports}) == 1 and again is reports[0]
    assert fresh is not reports[0]
    assert len(check.calls) == 2


def test_recovery_turns_ready_again_and_each_change_is_logged_once(caplog):
    clock = Clock()
    state = {"up": False}

    async def master():
        if not state["up"]:
            raise ProbeFailed("down")
        return "up"

    readiness = Readiness({"master": master}, timeout=1, clock=clock)

    async def scenario():
        down = await readiness.report()
        clock.now += 2
        await readiness.report()  # still down: not logged again
        state["up"] = True
        clock.now += 2
        up = await readiness.report()
        clock.now += 2
        await readiness.report()
        return down, up

    with caplog.at_level(logging.WARNING, "salt_ext_rest.operations.readiness"):
        down, up = asyncio.run(scenario())
    assert (down.ready, down.failing) == (False, ["master"])
    assert (up.ready, up.failing) == (True, [])
    # logged once per change, not once per probe
    assert caplog.messages == ["rest_ext: not ready (master: down)", "rest_ext: ready again"]


class FakeCache:
    def __init__(self, lose_writes=False, keep_flushed=False):
        self.banks = {}
        self.lose_writes, self.keep_flushed = lose_writes, keep_flushed
        self.flushed = []

    def store(self, bank, key, data, expires=None):
        assert expires and expires > 0
        if not self.lose_writes:
            self.banks[(bank, key)] = dict(data)

    def fetch(self, bank, key):
        return dict(self.banks.get((bank, key), {}))

    def flush(self, bank, key=None):
        self.flushed.append((bank, key))
        if not self.keep_flushed:
            self.banks.pop((bank, key), None)


class FakeLoadAuth:
    def __init__(self, cache):
        self.opts = {"eauth_tokens.cache_driver": "localfs_key"}
        self.cache = cache


def test_token_store_probe_writes_an_unusable_entry_and_removes_it():
    cache = FakeCache()
    written = {}
    original = cache.store

    def spy(bank, key, data, expires=None):
        written.update(data)
        original(bank, key, data, expires)

    cache.store = spy
    probe_token_store(FakeLoadAuth(cache))
    assert cache.banks == {}
    assert cache.flushed == [("tokens", written["token"])]
    assert written["eauth"] == PROBE_EAUTH
    assert written["expire"] < time.time()  # expired before it was written
    assert not all(c in "0123456789abcdef" for c in written["token"])  # not a token's form


@pytest.mark.parametrize(
    ("cache", "message"),
    [
        (FakeCache(lose_writes=True), "did not return what was written"),
        (FakeCache(keep_flushed=True), "did not remove"),
    ],
)
def test_token_store_probe_fails_on_a_store_that_misbehaves(cache, message):
    with pytest.raises(ProbeFailed, match=message):
        probe_token_store(FakeLoadAuth(cache))
    assert cache.flushed  # removal is always attempted


PROBE_KEYS = ("health_path", "ready_path", "probe_timeout", "log_probes")


def test_probe_keys_are_in_the_config_the_schema_and_the_docs():
    import dataclasses
    import pathlib

    from salt_ext_rest.config import RestConfig
    from salt_ext_rest.schemas import load_schema

    fields = {f.name for f in dataclasses.fields(RestConfig)}
    schema = set(load_schema("config.json")["properties"])
    docs = (pathlib.Path(__file__).parents[2] / "docs" / "configuration.rst").read_text()
    for key in PROBE_KEYS:
        assert key in fields and key in schema, key
        assert f"   * - ``{key}``" in docs, key
