"""Synchronous ``local`` and ``runner`` calls whose returns come from the bus's one
subscription (:mod:`salt_ext_rest.events.job_returns`), not a listener per call.

Publishes (the job's, find_job's, a runner's start) are sent on the IOLoop through
the worker's one request channel (:mod:`salt_ext_rest.backend.publisher`); the
waiting happens on the IOLoop too (:mod:`salt_ext_rest.backend.job_wait`).
Results have the shapes :class:`~salt_ext_rest.backend.dispatch.Dispatcher` gives
(those of Salt's ``LocalClient.cmd`` and ``RunnerClient.cmd_sync``). Used when the bus
is connected and the master orders no syndics; otherwise the dispatcher's path runs.
``wheel`` calls go to the master when :mod:`~salt_ext_rest.backend.master_wheel` may
send them (the caller's ACL restricts no argument).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import salt.exceptions
import salt.utils.jid

from salt_ext_rest.backend import job_wait, local_status
from salt_ext_rest.backend.dispatch import Dispatcher, JobReturns
from salt_ext_rest.backend.gateway import SaltGateway
from salt_ext_rest.backend.master_wheel import MasterWheel
from salt_ext_rest.backend.publisher import Publisher
from salt_ext_rest.events.bus import EventBus
from salt_ext_rest.events.job_returns import JobWatch

#: the clients run here
CLIENTS = ("local", "runner")


class JobRunner:
    def __init__(self, gateway: SaltGateway, dispatcher: Dispatcher, bus: EventBus) -> None:
        self.gateway = gateway
        self.dispatcher = dispatcher
        self.bus = bus
        self.opts = gateway.opts
        self.returns = bus.jobs
        self.publisher = Publisher(gateway)
        self.wheel = MasterWheel(gateway, self.publisher)
        self._last_jid = ""

    def handles(self, chunk: dict[str, Any]) -> bool:
        if self.wheel.handles(chunk):
            return True
        return (
            chunk.get("client") in CLIENTS
            and self.bus.connected.is_set()
            and not self.opts.get("order_masters")
        )

    def new_jid(self) -> str:
        """Salt's jid, made unique in this process (Salt's is the time to the
        microsecond, which two calls here may share)."""
        jid = salt.utils.jid.gen_jid(self.opts)
        while jid <= self._last_jid or jid in self.returns.jobs:
            jid = f"{int(jid[:20]) + 1}{jid[20:]}"
        self._last_jid = jid
        return jid

    async def run(self, chunk: dict[str, Any]) -> Any:
        if chunk["client"] == "runner":
            return await self.runner(chunk)
        if chunk["client"] == "wheel":
            self._check_master()
            return await self.wheel.run(chunk)
        return await self.local(chunk)

    # -- local -------------------------------------------------------------------------
    async def local(self, chunk: dict[str, Any]) -> Any:
        jid = self.new_jid()
        wake = asyncio.Event()
        with contextlib.ExitStack() as stack:
            watch = stack.enter_context(self.returns.watch(jid, wake))
            self._check_master()
            pub = await self.publisher.publish_local(chunk, jid)
            if not pub:
                return self.dispatcher.local_result(chunk, pub, {}, {})
            timeout, gather_timeout = await self.publisher.timeouts(chunk)

            async def find_job(pending: set[str]) -> JobWatch | None:
                find_jid = self.new_jid()
                jinfo = stack.enter_context(self.returns.watch(find_jid, wake))
                args = (chunk, jid, pending, find_jid, gather_timeout)
                sent = await self.publisher.find_job(*args)
                return jinfo if sent else None

            got = await job_wait.gather(
                watch, set(pub["minions"]), timeout, gather_timeout, find_job
            )
        if local_status.wanted(chunk):
            return await self.gateway.call(self._envelope, chunk, pub, got)
        silent = {}
        if got.never_returned:
            args = (jid, set(got.returns), got.never_returned)
            silent = await self.gateway.call(self.dispatcher.silent_placeholders, *args)
        return self.dispatcher.local_result(chunk, pub, got.returns, silent)

    def _envelope(self, chunk: dict[str, Any], pub: dict[str, Any], got: Any) -> JobReturns:
        """``view: status``: the job's envelope (blocking: the presence check)."""
        jid = pub["jid"]
        targeted = set(pub["minions"]) | got.never_returned
        online = local_status.silent_connected(self.gateway, targeted - set(got.returns))
        args = (got.success, online, got.not_running, got.new, bool(self.opts.get("utc_jid")))
        return JobReturns(
            local_status.local_envelope(chunk, jid, targeted, got.returns, *args), jid
        )

    def _check_master(self) -> None:
        if not self.gateway.master_running():
            raise salt.exceptions.SaltDaemonNotRunning("Salt Master is not available.")

    # -- runner ------------------------------------------------------------------------
    async def runner(self, chunk: dict[str, Any]) -> Any:
        timeout = chunk.get("timeout")
        timeout = float(timeout) if timeout is not None else self.opts.get("rest_timeout", 300)
        self._check_master()
        with self.returns.publishing_run():
            job = await self.publisher.start_runner(chunk, timeout)
            ret = await self.returns.run_return(f"{job['tag']}/ret", timeout)
        if ret is None:
            jid = job["jid"]
            raise salt.exceptions.SaltClientTimeout(f"RunnerClient job '{jid}' timed out", jid=jid)
        return ret if chunk.get("full_return") else ret["data"]["return"]
