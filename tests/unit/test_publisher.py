"""Publishing on the IOLoop sends what Salt's LocalClient and RunnerClient send, reads
the master's answers as they do, and survives callers going away and channel failures."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import salt.client
import salt.exceptions

from salt_ext_rest.backend import publisher as publisher_mod
from salt_ext_rest.backend.publisher import Publisher

OPTS = {
    "order_masters": False,
    "publish_timeout": 30,
    "timeout": 5,
    "gather_job_timeout": 10,
    "ext_job_cache": "",
    "nodegroups": {"web": "L@m1,m2"},
    "interface": "127.0.0.1",
    "ret_port": 4506,
    "sock_dir": "/nonexistent",
}
JID = "20261207180000000001"


def salt_local_client() -> salt.client.LocalClient:
    """Salt's LocalClient, without its constructor (which reads keys and configs)."""
    client = salt.client.LocalClient.__new__(salt.client.LocalClient)
    client.opts, client.key, client.salt_user = dict(OPTS), "master-key", "root"
    client.event = None
    return client


class FakeChannel:
    """The master's request server: records loads, answers from ``replies``."""

    def __init__(self, replies: list[Any]) -> None:
        self.replies, self.sent, self.closed = replies, [], False

    async def send(self, load: dict[str, Any], tries: int = 3, timeout: Any = 60) -> Any:
        self.sent.append((dict(load), tries, timeout))
        reply = self.replies.pop(0)
        if isinstance(reply, BaseException):
            raise reply
        if isinstance(reply, asyncio.Future):
            return await reply
        return reply

    async def close_async(self) -> None:
        self.closed = True


class SyncChannel(FakeChannel):
    """Salt's synchronous channel, as LocalClient.pub uses it."""

    def send(self, load: dict[str, Any], tries: int = 3, timeout: Any = 60) -> Any:  # type: ignore[override]
        self.sent.append((dict(load), tries, timeout))
        return self.replies.pop(0)

    def __enter__(self) -> SyncChannel:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


class Gateway:
    opts = OPTS

    def __init__(self) -> None:
        self.hops = 0

    def master_running(self) -> bool:
        return True

    def master_answered(self) -> None:
        self.answered = getattr(self, "answered", 0) + 1

    async def call(self, func: Any, *args: Any, **kwargs: Any) -> Any:
        self.hops += 1
        return func(*args, **kwargs)


def make(replies: list[Any], monkeypatch: pytest.MonkeyPatch) -> tuple[Publisher, list]:
    channels: list[FakeChannel] = []

    def factory(opts: dict[str, Any], **kwargs: Any) -> FakeChannel:
        channels.append(FakeChannel(replies))
        return channels[-1]

    monkeypatch.setattr(publisher_mod.salt.channel.client.AsyncReqChannel, "factory", factory)
    pub = Publisher(Gateway())
    pub._local = salt_local_client()
    return pub, channels


def published(minions: list[str], jid: str = JID) -> dict[str, Any]:
    return {"enc": "clear", "load": {"jid": jid, "minions": minions}}


CHUNKS = [
    {"client": "local", "tgt": "m*", "fun": "test.ping", "token": "t"},
    {"client": "local", "tgt": "web", "tgt_type": "nodegroup", "fun": "test.arg",
     "arg": ["a", "k=v"], "kwarg": {"x": 1}, "timeout": 7, "ret": "syslog", "token": "t",
     "report_missing": True, "view": "status"},
    {"client": "local", "tgt": "m1,m2", "tgt_type": "list", "fun": "cmd.run", "arg": "ls",
     "username": "u", "eauth": "auto", "full_return": True},
]  # fmt: skip


@pytest.mark.parametrize("chunk", CHUNKS)
def test_the_publish_load_is_salts(chunk: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    pub, channels = make([published(["m1", "m2"])], monkeypatch)
    got = asyncio.run(pub.publish_local(chunk, JID))
    assert got == {"jid": JID, "minions": ["m1", "m2"]}
    assert pub.gateway.answered == 1  # type: ignore[attr-defined]
    ((load, tries, timeout),) = channels[0].sent
    assert tries == 1
    # What Salt's own LocalClient.run_job sends through its synchronous channel
    sync = SyncChannel([published(["m1", "m2"])])
    monkeypatch.setattr(salt.client.salt.channel.client.ReqChannel, "factory", lambda *a, **k: sync)
    monkeypatch.setattr(salt.client.os.path, "exists", lambda path: True)
    low = {k: v for k, v in chunk.items() if k not in ("client", "report_missing", "view")}
    call = salt.utils.args.format_call(salt_local_client().run_job, low)
    salt_local_client().run_job(*call["args"], **{**call.get("kwargs", {}), "jid": JID})
    ((salt_load, _tries, salt_timeout),) = sync.sent
    assert load == salt_load and timeout == salt_timeout


def test_no_minion_matched_is_an_empty_result(monkeypatch: pytest.MonkeyPatch) -> None:
    pub, _ = make([published([])], monkeypatch)
    assert asyncio.run(pub.publish_local(CHUNKS[0], JID)) == {}


@pytest.mark.parametrize(
    ("reply", "raised"),
    [
        ({"error": {"name": "AuthorizationError", "message": "no"}}, "AuthorizationError"),
        ({"error": {"name": "AuthenticationError", "message": "no"}}, "AuthenticationError"),
        ({"error": "odd"}, "SaltClientError"),
        (salt.exceptions.SaltReqTimeoutError("Message timed out"), "SaltClientError"),
    ],
)
def test_the_masters_refusals_and_silence_raise_as_in_salt(
    reply: Any, raised: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pub, channels = make([reply], monkeypatch)
    with pytest.raises(getattr(salt.exceptions, raised)):
        asyncio.run(pub.publish_local(CHUNKS[0], JID))
    # a failed send with nothing else in flight drops the channel: the next builds anew
    assert channels[0].closed is isinstance(reply, BaseException)


def test_a_failed_channel_is_rebuilt(monkeypatch: pytest.MonkeyPatch) -> None:
    replies: list[Any] = [salt.exceptions.SaltReqTimeoutError("x"), published(["m1"])]
    pub, channels = make(replies, monkeypatch)

    async def scenario() -> Any:
        with pytest.raises(salt.exceptions.SaltClientError):
            await pub.publish_local(CHUNKS[0], JID)
        return await pub.publish_local(CHUNKS[0], JID)

    assert asyncio.run(scenario()) == {"jid": JID, "minions": ["m1"]}
    assert len(channels) == 2 and channels[0].closed and not channels[1].closed


def test_a_caller_going_away_does_not_cancel_the_channels_send(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def scenario() -> tuple[Any, FakeChannel]:
        answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        pub, channels = make([answer, published(["m2"])], monkeypatch)
        caller = asyncio.ensure_future(pub.publish_local(CHUNKS[0], JID))
        await asyncio.sleep(0.01)
        caller.cancel()
        with pytest.raises(asyncio.CancelledError):
            await caller
        assert not answer.cancelled()  # Salt's transport would stop its send loop
        answer.set_result(published(["m1"]))
        return await pub.publish_local(CHUNKS[0], JID), channels[0]

    result, channel = asyncio.run(scenario())
    assert result == {"jid": JID, "minions": ["m2"]} and not channel.closed


def test_timeouts_need_no_executor_hop(monkeypatch: pytest.MonkeyPatch) -> None:
    pub, _ = make([], monkeypatch)
    assert asyncio.run(pub.timeouts({"timeout": "9"})) == (9, 10)
    assert asyncio.run(pub.timeouts({"gather_job_timeout": 3})) == (5, 3)
    assert pub.gateway.hops == 0


def test_the_runner_start_is_sent_as_master_call_sends_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pub, channels = make([{"jid": JID, "tag": f"salt/run/{JID}"}], monkeypatch)

    class Runner:
        client = "runner"

        def _reformat_low(self, low: dict[str, Any]) -> dict[str, Any]:
            return {"fun": low["fun"], "kwarg": {"arg": low["arg"], "kwarg": {}}}

    pub._runner = Runner()  # type: ignore[assignment]
    chunk = {"client": "runner", "fun": "test.arg", "arg": ["a"], "timeout": 3}
    assert asyncio.run(pub.start_runner(chunk, 3)) == {"jid": JID, "tag": f"salt/run/{JID}"}
    ((load, tries, timeout),) = channels[0].sent
    assert load == {"fun": "test.arg", "kwarg": {"arg": ["a"], "kwarg": {}}, "cmd": "runner"}
    assert tries == 1 and timeout == 3  # the call's timeout bounds the master's answer


def test_a_runner_refused_by_the_master_raises_salts_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    refusal = {"error": {"name": "EauthAuthenticationError", "message": "denied"}}
    pub, _ = make([refusal], monkeypatch)

    class Runner:
        client = "runner"

        def _reformat_low(self, low: dict[str, Any]) -> dict[str, Any]:
            return {"fun": low["fun"]}

    pub._runner = Runner()  # type: ignore[assignment]
    with pytest.raises(salt.exceptions.EauthAuthenticationError):
        asyncio.run(pub.start_runner({"client": "runner", "fun": "test.arg"}, 300))


@pytest.mark.parametrize("loaded", [True, False])
def test_a_loaded_runner_is_reformatted_on_the_loop_else_on_the_executor(
    loaded: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    pub, _ = make([{"jid": JID, "tag": f"salt/run/{JID}"}], monkeypatch)

    class Functions:
        _dict = {"test.arg": object()} if loaded else {}

    class Runner:
        client = "runner"

        def __init__(self) -> None:
            self._functions = Functions()  # as Salt's RunnerClient.functions keeps it

        def _reformat_low(self, low: dict[str, Any]) -> dict[str, Any]:
            return {"fun": low.pop("fun")}

    pub._runner = Runner()  # type: ignore[assignment]
    asyncio.run(pub.start_runner({"client": "runner", "fun": "test.arg"}, 300))
    assert pub.gateway.hops == (0 if loaded else 1)  # type: ignore[attr-defined]


def test_a_channel_unused_for_a_while_is_closed_and_built_again(monkeypatch) -> None:
    """Salt's channel wakes the loop every 0.3 s while open: not kept open unused."""
    monkeypatch.setattr(publisher_mod, "CHANNEL_IDLE", 0.05)
    pub, channels = make([published(["m1"]), published(["m1"]), published(["m1"])], monkeypatch)

    async def scenario() -> None:
        await pub.publish_local(CHUNKS[0], JID)
        await asyncio.sleep(0.02)
        await pub.publish_local(CHUNKS[0], JID)  # within the idle time: the same channel
        assert len(channels) == 1 and not channels[0].closed
        await asyncio.sleep(0.15)
        assert channels[0].closed and pub._channel is None
        await pub.publish_local(CHUNKS[0], JID)  # built again when needed
        assert len(channels) == 2 and not channels[1].closed
        await pub.close()

    asyncio.run(scenario())
