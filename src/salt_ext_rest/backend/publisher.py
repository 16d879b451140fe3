"""Publishing ``local`` jobs and starting runners on the IOLoop, through one request channel.

Salt's ``LocalClient.pub`` and ``RunnerClient.master_call`` build a synchronous
request channel for every call: a ZeroMQ socket, a private IOLoop and a thread to run
it, on one of the gateway's executor threads. Here each worker keeps one
:class:`salt.channel.client.AsyncReqChannel` (clear, as theirs) on its own loop, and
sends the very loads they send: the publish load is built by Salt's
``LocalClient._prep_pub``, the runner's by ``RunnerClient._reformat_low``, and the
answers are read as ``LocalClient.pub``/``run_job``/``_check_pub_data`` and
``master_call`` read them, so results and errors are Salt's.

A send that fails (the master went away, or did not answer in time) closes the
channel; the next call builds a new one. So does a channel unused for
:data:`CHANNEL_IDLE` seconds: Salt's channel wakes its loop every 0.3 s while open
(its sender polls its queue), about 1 ms of CPU a second in a worker that publishes
nothing (a 5,000-minion job waits 30 s on its returns). Each send is tried once, within its timeout
(a retried publish would run the job twice): a caller gets Salt's error, answered 503,
never a hang.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Mapping
from typing import Any

import salt.channel.client
import salt.client
import salt.exceptions
import salt.runner
import salt.utils.args
import salt.utils.error

from salt_ext_rest.backend.dispatch import REST_KEYS
from salt_ext_rest.backend.probes import master_uri
from salt_ext_rest.lowstate.chunks import CREDENTIAL_KEYS

log = logging.getLogger(__name__)

#: Salt's timeout of a runner's ``master_call`` (the request channel's default)
RUNNER_SEND_TIMEOUT = 60
#: seconds a request channel is kept open unused (building one again costs a few ms)
CHANNEL_IDLE = 2.0

_TIMED_OUT = (
    "Salt request timed out. The master is not responding. You may need to run your"
    " command with `--async` in order to bypass the congested event bus."
)


class Publisher:
    """One worker's publishes: ``publish_local``, ``find_job``, ``start_runner``."""

    def __init__(self, gateway: Any) -> None:
        self.gateway = gateway
        self.opts: dict[str, Any] = gateway.opts
        self._channel: Any = None
        self._local: salt.client.LocalClient | None = None
        self._runner: salt.runner.RunnerClient | None = None
        self._runner_lock = threading.Lock()
        self._building: asyncio.Lock | None = None
        self._in_flight = 0
        self._idle: asyncio.TimerHandle | None = None  # closes an unused channel
        self._closing: set[asyncio.Task] = set()  # closes under way (kept referenced)

    # -- Salt's client objects, built once per worker on an executor thread ---------------
    async def local_client(self) -> salt.client.LocalClient:
        """A LocalClient used only to build loads (``_prep_pub``, its key and user)."""
        if self._local is None:
            async with self._lock():
                if self._local is None:
                    self._local = await self.gateway.call(_make_local, self.opts)
        return self._local

    async def runner_client(self) -> salt.runner.RunnerClient:
        if self._runner is None:
            async with self._lock():
                if self._runner is None:
                    self._runner = await self.gateway.call(salt.runner.RunnerClient, self.opts)
        return self._runner

    def _lock(self) -> asyncio.Lock:
        if self._building is None:
            self._building = asyncio.Lock()
        return self._building

    # -- local -----------------------------------------------------------------------------
    async def publish_local(self, chunk: dict[str, Any], jid: str) -> dict[str, Any]:
        """Publish ``chunk`` under ``jid``: ``{jid, minions}``, or ``{}`` as ``run_job`` gives
        (no minion matched); raises as ``LocalClient.run_job`` does."""
        client = await self.local_client()
        low = {k: v for k, v in chunk.items() if k not in REST_KEYS}
        call = salt.utils.args.format_call(client.run_job, low)
        kwargs = {**call.get("kwargs", {}), "jid": jid}
        return await self.run_job(client, *call.get("args", ()), **kwargs)

    async def timeouts(self, chunk: dict[str, Any]) -> tuple[float, float]:
        """(timeout, gather_job_timeout) as LocalClient.cmd takes them."""
        timeout = (await self.local_client())._get_timeout(chunk.get("timeout"))
        return timeout, int(chunk.get("gather_job_timeout", self.opts["gather_job_timeout"]))

    async def find_job(
        self, chunk: dict[str, Any], jid: str, pending: set[str], find_jid: str, timeout: float
    ) -> bool:
        """Ask the accepted minions in ``pending`` whether they still run ``jid`` (Salt's
        gather_job_info), under ``find_jid``; ``False``: nobody to ask."""
        accepted = await self.gateway.call(_accepted, self.gateway)  # as get_iter_returns
        targets = sorted(pending & accepted)
        if not targets:
            return False
        extra = {k: v for k, v in chunk.items() if k in CREDENTIAL_KEYS}
        pub = await self.run_job(
            await self.local_client(), targets, "saltutil.find_job", arg=[jid],
            tgt_type="list", timeout=int(timeout), jid=find_jid, **extra,
        )  # fmt: skip
        return bool(pub and pub.get("jid"))

    async def run_job(
        self,
        client: salt.client.LocalClient,
        tgt: Any,
        fun: str,
        arg: Any = (),
        tgt_type: str = "glob",
        ret: str = "",
        timeout: Any = None,
        jid: str = "",
        kwarg: Any = None,
        listen: bool = False,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """``LocalClient.run_job`` (``listen=False``) with ``pub`` sent on this loop."""
        arg = salt.utils.args.condition_input(arg, kwarg)
        timeout = client._get_timeout(timeout) if timeout is not None else None
        try:
            pub_data = await self._pub(client, tgt, fun, arg, tgt_type, ret, jid, timeout, kwargs)
        except salt.exceptions.SaltClientError:
            raise salt.exceptions.SaltClientError(
                "The salt master could not be contacted. Is master running?"
            ) from None
        except (salt.exceptions.AuthenticationError, salt.exceptions.AuthorizationError):
            raise
        except Exception as exc:
            raise salt.exceptions.SaltClientError(exc) from exc
        return client._check_pub_data(pub_data, listen=False)

    async def _pub(
        self,
        client: salt.client.LocalClient,
        tgt: Any,
        fun: str,
        arg: Any,
        tgt_type: str,
        ret: str,
        jid: str,
        timeout: Any,
        kwargs: dict[str, Any],
    ) -> Any:
        """``LocalClient.pub``: the master's answer to the publish load."""
        if timeout is None:
            timeout = self.opts.get("publish_timeout", 30)
        if not self.gateway.master_running():
            raise salt.exceptions.SaltClientError
        load = client._prep_pub(tgt, fun, arg, tgt_type, ret, jid, timeout, **kwargs)
        try:
            payload = await self.send(load, timeout)
        except salt.exceptions.SaltReqTimeoutError:
            raise salt.exceptions.SaltReqTimeoutError(_TIMED_OUT) from None
        if not payload:
            # The master key may have changed under us (Salt's pub): re-read, try again.
            key = await self.gateway.call(client._LocalClient__read_master_key)
            if key == client.key:
                return payload
            client.key = load["key"] = key
            payload = await self.send(load, timeout)
        if isinstance(payload, str):
            payload = {"error": payload}
        error = payload.pop("error", None)
        if error is not None:
            if isinstance(error, dict):
                name, message = error.get("name", ""), error.get("message", "")
                if name == "AuthenticationError":
                    raise salt.exceptions.AuthenticationError(message)
                if name == "AuthorizationError":
                    raise salt.exceptions.AuthorizationError(message)
            raise salt.exceptions.PublishError(error)
        if not payload:
            return payload
        return {"jid": payload["load"]["jid"], "minions": payload["load"]["minions"]}

    # -- runner ----------------------------------------------------------------------------
    async def start_runner(self, chunk: dict[str, Any], timeout: float) -> Any:
        """Start a runner on the master as ``RunnerClient.cmd_sync`` does: ``{jid, tag}``.
        The master must take it within ``timeout`` (the call's; at most Salt's 60 s)."""
        runner = await self.runner_client()
        low = {k: v for k, v in chunk.items() if k not in ("timeout", "full_return")}
        # Salt's private helper: what cmd_sync sends (arg/kwarg normalised, fun checked).
        # Loading the runner's module reads the disk: then on the executor, not here.
        load = self._reformat_here(runner, low)
        if load is None:
            load = await self.gateway.call(self._reformat, runner, low)
        load["cmd"] = runner.client
        ret = await self.send(load, min(timeout, RUNNER_SEND_TIMEOUT))
        if isinstance(ret, Mapping) and "error" in ret:
            salt.utils.error.raise_error(**ret["error"])
        return ret

    def _reformat_here(
        self, runner: salt.runner.RunnerClient, low: dict[str, Any]
    ) -> dict[str, Any] | None:
        """The reformatted load, on this loop, when ``fun`` is loaded already (a dict
        look-up: Salt's private loader dict) and no thread uses the loader; else ``None``."""
        loaded = getattr(runner.__dict__.get("_functions"), "_dict", None)
        if not isinstance(loaded, dict) or low.get("fun") not in loaded:
            return None
        if not self._runner_lock.acquire(blocking=False):
            return None
        try:
            return runner._reformat_low(dict(low))
        finally:
            self._runner_lock.release()

    def _reformat(self, runner: salt.runner.RunnerClient, low: dict[str, Any]) -> dict[str, Any]:
        with self._runner_lock:  # the runner's loader, shared by the executor's threads
            return runner._reformat_low(low)

    # -- the channel -----------------------------------------------------------------------
    async def send(self, load: dict[str, Any], timeout: float) -> Any:
        """One try, within ``timeout``. Shielded: a caller going away must not cancel
        the channel's own send (Salt's transport stops its loop on a cancelled request).
        A failure with nothing else in flight closes the channel (rebuilt next time)."""
        channel = self._channel
        if channel is None:
            uri = master_uri(self.opts)
            channel = salt.channel.client.AsyncReqChannel.factory(
                {**self.opts, "master_uri": uri}, crypt="clear", master_uri=uri
            )
            self._channel = channel
        self._in_flight += 1
        try:
            answer = await asyncio.shield(channel.send(load, tries=1, timeout=timeout))
            self.gateway.master_answered()  # the next request needs no reachability probe
            return answer
        except asyncio.CancelledError:
            raise
        except Exception:
            if self._channel is channel and self._in_flight == 1:
                self._channel = None
                await _close(channel)
            raise
        finally:
            self._in_flight -= 1
            if self._in_flight == 0 and self._channel is not None:
                self._close_when_idle()

    def _close_when_idle(self) -> None:
        """Close the channel :data:`CHANNEL_IDLE` seconds from now unless used again."""
        if self._idle is not None:
            self._idle.cancel()
        self._idle = asyncio.get_running_loop().call_later(CHANNEL_IDLE, self._close_idle)

    def _close_idle(self) -> None:
        self._idle = None
        channel = self._channel
        if channel is not None and self._in_flight == 0:
            self._channel = None
            self._closing.add(task := asyncio.get_running_loop().create_task(_close(channel)))
            task.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        channel, self._channel = self._channel, None
        if channel is not None:
            await _close(channel)
        for client in (self._local,):
            if client is not None:
                client.destroy()
        self._local = None


async def _close(channel: Any) -> None:
    with contextlib.suppress(Exception):
        await channel.close_async()


def _accepted(gateway: Any) -> set[str]:
    # Salt's private helper, as LocalClient.get_iter_returns asks it.
    return set(gateway.ckminions()._pki_minions())


def _make_local(opts: dict[str, Any]) -> salt.client.LocalClient:
    return salt.client.get_local_client(mopts=opts)
