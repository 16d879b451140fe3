"""The publish of a job whose returns come from the bus opens no listener of its own,
and is sent on the IOLoop (the worker's request channel), not on an executor thread."""

from __future__ import annotations

import asyncio
from typing import Any

from salt_ext_rest.backend.dispatch import Dispatcher
from salt_ext_rest.backend.jobs import JobRunner
from salt_ext_rest.events.bus import EventBus

JID = "20261207160000000001"


class FakeLocalClient:
    def __init__(self) -> None:
        self.calls: list[tuple[tuple, dict]] = []

    def run_job(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        self.calls.append((args, kwargs))
        return {"jid": kwargs["jid"], "minions": ["m1", "m2"]}

    def get_cli_event_returns(self, *args: Any, **kwargs: Any) -> None:
        raise AssertionError("a bus listener per call")

    def _get_timeout(self, timeout: Any) -> int:
        return int(timeout) if timeout is not None else 5


class FakeGateway:
    opts = {"gather_job_timeout": 5, "sock_dir": "/nonexistent", "order_masters": False}

    def __init__(self) -> None:
        self.client = FakeLocalClient()
        self.hops: list[str] = []

    def master_running(self) -> bool:
        return True

    def local_client(self) -> FakeLocalClient:
        return self.client

    async def call(self, func: Any, *args: Any, **kwargs: Any) -> Any:
        self.hops.append(getattr(func, "__name__", repr(func)))
        return func(*args, **kwargs)


class FakePublisher:
    """What JobRunner asks of :class:`~salt_ext_rest.backend.publisher.Publisher`."""

    def __init__(self, client: FakeLocalClient) -> None:
        self.client = client

    async def publish_local(self, chunk: dict[str, Any], jid: str) -> dict[str, Any]:
        low = {k: v for k, v in chunk.items() if k not in ("client", "tgt", "fun")}
        return self.client.run_job(chunk["tgt"], chunk["fun"], **{**low, "jid": jid})

    async def timeouts(self, chunk: dict[str, Any]) -> tuple[float, float]:
        return self.client._get_timeout(chunk.get("timeout")), 5


def test_local_publishes_under_its_jid_without_listening_and_gathers_from_the_bus() -> None:
    gateway = FakeGateway()
    dispatcher = Dispatcher(gateway)  # type: ignore[arg-type]
    bus = EventBus({})
    runner = JobRunner(gateway, dispatcher, bus)  # type: ignore[arg-type]
    runner.publisher = FakePublisher(gateway.client)  # type: ignore[assignment]
    chunk = {"client": "local", "tgt": "m*", "fun": "test.ping", "token": "t", "timeout": 5}

    async def scenario() -> Any:
        task = asyncio.ensure_future(runner.run(chunk))
        while not bus.jobs.jobs:
            await asyncio.sleep(0)
        (jid,) = bus.jobs.jobs
        for mid in ("m1", "m2"):
            bus.jobs.feed(f"salt/job/{jid}/ret/{mid}", {"id": mid, "return": True, "retcode": 0})
        return await asyncio.wait_for(task, 2)

    assert asyncio.run(scenario()) == {"m1": True, "m2": True}
    ((_args, kwargs),) = gateway.client.calls
    assert kwargs["jid"].isdigit() and kwargs["token"] == "t"
    assert gateway.hops == []  # no executor hop: publish, timeouts and gathering on the loop
    assert not bus.jobs.jobs  # the watch is gone with the call


def test_jids_are_unique_in_the_process() -> None:
    runner = JobRunner(FakeGateway(), None, EventBus({}))  # type: ignore[arg-type]
    jids = [runner.new_jid() for _ in range(200)]
    assert len(set(jids)) == 200 and jids == sorted(jids)
    assert all(len(jid) == 20 and jid.isdigit() for jid in jids)
