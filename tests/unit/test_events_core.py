import asyncio
import json
import types

import pytest

from salt_ext_rest.auth.identity import Identity
from salt_ext_rest.backend.acl import expand_targets
from salt_ext_rest.config import RestConfig
from salt_ext_rest.events.bus import NOTICE_PREFIX, EventBus
from salt_ext_rest.events.filters import EventFilter
from salt_ext_rest.events.formatters import CherrypyWsFormatter, CloudEventsFormatter
from salt_ext_rest.events.redact import REDACTED, Redactor, redact
from salt_ext_rest.events.subscription import BusEvent, StreamClosed, Subscription
from salt_ext_rest.events.visibility import (
    GRAINS,
    ID_ONLY,
    Restricted,
    tag_globs,
)


def event(tag, **data):
    return BusEvent("e-1", tag, data)


def test_redact_any_depth_case_insensitive():
    data = {"a": 1, "Password": "p", "x": [{"token": "t"}, {"headers": {"Authorization": "b"}}]}
    assert redact(data) == {
        "a": 1,
        "Password": "<redacted>",
        "x": [{"token": "<redacted>"}, {"headers": {"Authorization": "<redacted>"}}],
    }
    assert redact({"key": "rootkey", "keys": ["k"]}) == {"key": "<redacted>", "keys": ["k"]}


def test_filters_tag_jid_minion():
    job = event("salt/job/123/ret/m1", jid="123", id="m1")
    assert EventFilter.build(tags=["salt/job/*"]).matches(job)
    assert not EventFilter.build(tags=["salt/key"]).matches(job)
    assert EventFilter.build(jids=["123"]).matches(job)
    assert not EventFilter.build(jids=["999"]).matches(job)
    assert EventFilter.build(minions=["m1"]).matches(job)
    assert EventFilter.build(minions=["m1"]).matches(event("salt/job/5/new", minions=["m1", "m2"]))
    assert not EventFilter.build(minions=["m3"]).matches(job)
    assert EventFilter().matches(job)


def test_filter_values_are_checked():
    from salt_ext_rest.errors import BadRequest

    with pytest.raises(BadRequest):
        EventFilter.build(tags=[""])
    with pytest.raises(BadRequest):
        EventFilter.from_message({"tags": [1]})


def test_subscription_overflow_closes_only_that_subscriber():
    async def scenario():
        slow = Subscription(None, lambda e: True, maxsize=3)
        fast = Subscription(None, lambda e: True, maxsize=3)
        for n in range(4):
            slow.offer(event(f"t/{n}"))
            fast.offer(event(f"t/{n}"))
            await fast.next(timeout=0)
        with pytest.raises(StreamClosed) as info:
            await slow.next()
        return info.value, fast

    closed, fast = asyncio.run(scenario())
    assert closed.code == 1013 and "too slow" in closed.reason
    assert fast.closed is None and fast.delivered == 4


def test_bus_orders_replays_and_flags_foreign_resume_ids():
    async def scenario():
        bus = EventBus({}, replay_size=3, queue_size=100)
        ids = [bus.publish(f"t/{n}", {"n": n}).id for n in range(5)]
        resumed = bus.subscribe(None, lambda e: True, last_id=ids[2])
        too_old = bus.subscribe(None, lambda e: True, last_id=ids[0])
        foreign = bus.subscribe(None, lambda e: True, last_id="beef-1")
        bus.publish("t/5", {"n": 5})
        got = [(await resumed.next(0)).tag for _ in range(3)]
        # an unknown id waits (up to RESUME_WAIT) for its event, then says so
        assert await foreign.next(0) is None
        return got, await too_old.next(0), await foreign.next(2), await foreign.next(0)

    got, too_old, foreign, live = asyncio.run(scenario())
    assert got == ["t/3", "t/4", "t/5"]
    assert too_old.tag == NOTICE_PREFIX + "resume_incomplete" and "older" in too_old.data["reason"]
    assert foreign.tag == NOTICE_PREFIX + "resume_incomplete" and foreign.data["missed"]
    assert "not in the event history" in foreign.data["reason"] and foreign.id == ""
    assert live.tag == "t/5"


def test_bus_redacts_and_close_token():
    async def scenario():
        from salt_ext_rest.auth.identity import Identity

        bus = EventBus({})
        me = Identity(name="u", eauth="auto", token="a" * 64)
        sub = bus.subscribe(me, lambda e: True)
        bus.publish("t", {"password": "x"})
        got = await sub.next(0)
        assert bus.close_token("a" * 64, "logged out") == 1
        with pytest.raises(StreamClosed):
            await sub.next(0)
        return got

    assert asyncio.run(scenario()).data == {"password": "<redacted>"}


@pytest.mark.parametrize(
    "raw",
    [
        b"garbage-without-separator\x00\xff",  # the tag is not UTF-8
        b"salt/tag-without-data",  # no tag/data separator: no payload to decode
        b"salt/tag\n\n\xc1",  # a separator, then bytes msgpack never produces
    ],
)
def test_malformed_raw_event_is_dropped_not_raised(raw):
    # Salt's unpack raises on each of these; the bus logs, counts nothing, offers
    # nothing, keeps nothing for replay, and the next good event goes through.
    import salt.utils.event

    async def scenario():
        bus = EventBus({})
        sub = bus.subscribe(None, lambda e: True)
        bus._publish_raw(raw)
        assert (bus.received, sub.backlog(), len(bus.history)) == (0, 0, 0)
        bus._publish_raw(salt.utils.event.SaltEvent.pack("good/1", {"n": 1}))
        return bus.received, await sub.next(0)

    received, got = asyncio.run(scenario())
    assert received == 1 and (got.tag, got.data) == ("good/1", {"n": 1})


def test_formatters():
    ev = BusEvent("ab-1", "salt/job/1/new", {"fun": "test.ping"}, stamp=0)
    assert CherrypyWsFormatter().format(ev).startswith('data: {"tag":"salt/job/1/new"')
    cloud = json.loads(CloudEventsFormatter("salt-master/m").format(ev))
    assert cloud["specversion"] == "1.0" and cloud["id"] == "ab-1" and cloud["subject"] == ev.tag
    assert cloud["time"] == "1970-01-01T00:00:00Z"


def test_subscription_next_times_out_takes_a_batch_and_raises_once_closed():
    async def scenario():
        sub = Subscription(None, lambda e: True, maxsize=10)
        started = asyncio.get_running_loop().time()
        assert await sub.next(timeout=0.05) is None
        assert asyncio.get_running_loop().time() - started >= 0.04
        assert await sub.next(timeout=0) is None
        waiting = asyncio.ensure_future(sub.next(timeout=5))
        await asyncio.sleep(0)
        for n in range(4):
            sub.offer(event(f"t/{n}"))
        assert (await waiting).tag == "t/0"
        assert [e.tag for e in sub.take(2)] == ["t/1", "t/2"]
        assert sub.backlog() == 1 and sub.delivered == 3
        sub.close("bye")
        with pytest.raises(StreamClosed):
            sub.take(5)

    asyncio.run(scenario())


def test_idle_notice_counts_from_the_last_event_with_one_timer_per_idle_period():
    async def scenario():
        loop = asyncio.get_running_loop()
        sub = Subscription(None, lambda e: True, maxsize=10)
        got = []

        async def consume():
            while len(got) < 6:
                got.append((await sub.next(timeout=0.2), loop.time()))

        task = asyncio.ensure_future(consume())
        start = loop.time()
        for n in range(5):  # an event every 0.1 s: never 0.2 s idle
            await asyncio.sleep(0.1)
            sub.offer(event(f"t/{n}"))
        await asyncio.wait_for(task, 2)
        assert [e.tag for e, _ in got[:5]] == [f"t/{n}" for n in range(5)]
        idle, at = got[5]
        assert idle is None and at - start >= 0.5 + 0.19  # 0.2 s after the last event
        timers = [h for h in loop._scheduled if not h.cancelled()]
        assert len(timers) <= 1
        sub.close("bye")
        assert not [h for h in loop._scheduled if not h.cancelled()]

    asyncio.run(scenario())


def test_redaction_covers_key_material_and_webhook_secrets_but_not_innocent_keys():
    pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIE...\n-----END RSA PRIVATE KEY-----\n"
    data = {
        "return": {"pub": "-----BEGIN PUBLIC KEY-----", "priv": pem},
        "kwarg": {"ssh_passwd": "p", "ssh_priv_passwd": "q", "secret": "s", "ssh_priv": "/k"},
        "headers": {"X-Gitlab-Token": "g", "X-Hub-Signature": "h", "X-Hub-Signature-256": "h2",
                    "X-Api-Secret": "a", "X-Auth-User": "u", "Content-Type": "c"},
        "author": "alice", "jid": "20261202", "eauth": "pam", "tokens": 3,
        "stdout": f"key follows\n{pem}",
    }  # fmt: skip
    out = redact(data)
    assert out["return"] == {"pub": "-----BEGIN PUBLIC KEY-----", "priv": REDACTED}
    assert out["kwarg"] == {"ssh_passwd": REDACTED, "ssh_priv_passwd": REDACTED,
                            "secret": REDACTED, "ssh_priv": "/k"}  # fmt: skip
    assert out["headers"] == {**{k: REDACTED for k in data["headers"]}, "Content-Type": "c"}
    assert out["stdout"] == REDACTED  # a PEM private key, whatever the key name
    for innocent in ("author", "jid", "eauth", "tokens"):
        assert out[innocent] == data[innocent]


def test_extra_redact_keys_are_case_insensitive_globs():
    redactor = Redactor(["X-Custom-*", "db_pass"])
    assert redactor({"x-custom-one": 1, "DB_PASS": 2, "db_password2": 3, "other": 4}) == {
        "x-custom-one": REDACTED, "DB_PASS": REDACTED, "db_password2": 3, "other": 4
    }  # fmt: skip


def test_restricted_visibility_needs_acl_or_tag_globs():
    identity = Identity(name="bob", eauth="pam", token="t", groups=("ops",))
    config = RestConfig(port=0, disable_ssl=True, event_visibility_tags={
        "pam": {"bob": ["salt/key"], "ops%": ["salt/beacon/*"], "*": ["custom/all"]},
        "ldap": {"bob": ["salt/auth"]},
    })  # fmt: skip
    context = types.SimpleNamespace(config=config)
    assert tag_globs(context, identity) == ("salt/key", "custom/all", "salt/beacon/*")

    class CkMinions:  # Salt's checks: bob may run test.* on web1 only
        def auth_check(self, auth_list, fun, args, tgt, tgt_type, minions=None):
            return fun.startswith("test.") and tgt == "web1"

        def spec_check(self, auth_list, fun, args, form):
            return False

        def check_minions(self, expr, tgt_type):
            return {"minions": ["web1"] if expr == "web*" else []}

    acl = [{"web*": ["test.*"]}]
    targets = expand_targets(CkMinions(), acl)
    assert targets == {"web*": frozenset({"web1"})}
    visible = Restricted(CkMinions(), identity, acl, tag_globs(context, identity), targets)

    assert visible(event("salt/job/1/new", fun="test.ping", minions=["web1"], user="alice"))
    assert not visible(event("salt/job/1/new", fun="test.ping", minions=["web1", "db1"]))
    assert not visible(event("salt/job/1/new", fun="cmd.run", minions=["web1"], user="alice"))
    assert visible(event("salt/job/1/ret/web1", fun="test.ping"))
    assert visible(event("salt/job/2/new", fun="test.echo", minions=["db1"], user="bob"))  # own
    assert not visible(event("salt/job/2/new", fun="cmd.run", minions=["db1"], user="bob"))
    assert not visible(event("salt/run/3/new", fun="runner.jobs.list_jobs", user="bob"))
    assert not visible(event("20261202", fun="test.ping", minions=["web1"]))  # old-style dup
    assert visible(event("salt/key", id="m", act="accept"))
    assert visible(event("salt/beacon/m/inotify"))
    assert not visible(event("salt/auth", id="m"))  # only ldap's bob may see salt/auth
    assert not visible(event("salt/minion/m/start"))
    assert visible(BusEvent("", "salt/netapi/rest_ext/stream/closed", {}, notice=True))
    assert visible.minion("web1") == ID_ONLY and visible.minion("db1") is None
    grains = [{"web*": ["grains.*"]}, {"*": [{"test.echo": {"args": ["x"]}}]}]
    visible = Restricted(CkMinions(), identity, grains, (), expand_targets(CkMinions(), grains))
    assert visible.minion("web1") == GRAINS and visible.minion("db1") == ID_ONLY
    assert Restricted(CkMinions(), identity, ["test.ping"], ()).minion("any") == ID_ONLY
    assert Restricted(CkMinions(), identity, ["@runner"], ()).minion("any") is None


def test_internal_events_go_to_their_handlers_never_to_streams():
    import salt.utils.event

    from salt_ext_rest.events.bus import INTERNAL_PREFIX

    async def scenario():
        bus = EventBus({})
        seen = []
        bus.on_internal("revoked", seen.append)
        bus.on_internal("other", lambda data: 1 / 0)  # a failing handler is contained
        sub = bus.subscribe(None, lambda e: True)
        for kind in ("revoked", "other", "unknown"):
            raw = salt.utils.event.SaltEvent.pack(INTERNAL_PREFIX + kind, {"digest": "ab"})
            bus._publish_raw(raw)
        return seen, sub.backlog(), len(bus.history)

    assert asyncio.run(scenario()) == ([{"digest": "ab"}], 0, 0)
