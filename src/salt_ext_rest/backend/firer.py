"""Firing events on the master's bus (``POST /hook``).

Salt's synchronous ``SaltEvent.fire_event`` costs a private IOLoop ``run_sync`` and,
because Salt's IPC publisher is itself wrapped for synchronous use, a new thread per
event. Salt 3008 can publish from a running loop instead (the path its async master
workers use, selected by ``master_async_mworker``): there the event is packed and
written on the API's own loop, one shared connection per process. Salt releases
without that path fire on an executor thread, one publisher per thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import salt.config
import salt.utils.event

from salt_ext_rest.backend.threadlocal import forget, per_thread

log = logging.getLogger(__name__)

#: Salt publishes from a running loop only where it knows this option.
ON_LOOP = "master_async_mworker" in salt.config.DEFAULT_MASTER_OPTS
FIRE_TIMEOUT = 5.0


class EventFirer:
    """``await fire(data, tag)``: ``True`` once the master's event socket took it."""

    def __init__(
        self,
        opts: dict[str, Any],
        call: Callable[..., Awaitable[Any]],
        on_loop: bool = ON_LOOP,
    ) -> None:
        self.opts, self.call, self.on_loop = opts, call, on_loop
        self._event: salt.utils.event.SaltEvent | None = None

    async def fire(self, data: dict[str, Any], tag: str) -> bool:
        if not self.on_loop:
            return await self.call(fire_blocking, self.opts, data, tag)
        event = self._event or self._make_event()
        try:
            sent = await asyncio.wait_for(event.fire_event_async(data, tag), FIRE_TIMEOUT)
        except Exception as exc:  # OSError, TimeoutError, StreamClosedError...
            # Master down or restarting: Salt reconnects on the next call.
            log.debug("rest_ext: the master did not take event %s: %r", tag, exc)
            return False
        return sent is not False

    def _make_event(self) -> salt.utils.event.SaltEvent:
        opts = {**self.opts, "master_async_mworker": True}  # this publisher only
        self._event = salt.utils.event.SaltEvent(
            "master",
            opts["sock_dir"],
            opts=opts,
            listen=False,
            io_loop=asyncio.get_running_loop(),
            keep_loop=True,
        )
        return self._event

    def close(self) -> None:
        if self._event is not None:
            self._event.destroy()
            self._event = None


def fire_blocking(opts: dict[str, Any], data: dict[str, Any], tag: str) -> bool:
    """Fire one event from an executor thread (one publisher per thread)."""
    event = per_thread(opts, "event_publisher", _publisher)
    try:
        return bool(event.fire_event(data, tag))
    except Exception:
        # A broken publisher (master restarted): start afresh on the next call.
        forget(opts, "event_publisher")
        event.destroy()
        raise


def _publisher(opts: dict[str, Any]) -> salt.utils.event.SaltEvent:
    return salt.utils.event.get_master_event(opts, opts["sock_dir"], listen=False)
