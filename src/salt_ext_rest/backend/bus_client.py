"""Salt's event bus as the API reads it: one IPC subscriber and Salt's wire format.

On the master's Unix socket (``ipc_mode`` not ``tcp``) the subscriber is
:class:`UnixSubscriber`: Salt's framing (msgpack ``{head, body}``) read with an
asyncio stream, large reads, no task per read (Salt's client reads 4 KiB at a time,
each read a task of its own: most of the API's CPU per event when nobody streams).
With ``ipc_mode: tcp`` Salt's own client is used.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

import salt.payload
import salt.transport.base
import salt.utils.event
import salt.utils.msgpack

log = logging.getLogger(__name__)

TAGEND = salt.utils.event.TAGEND.encode()


def master_subscriber(opts: dict[str, Any], loop: asyncio.AbstractEventLoop) -> Any:
    """An unconnected client of the master's event publisher, on ``loop``.

    ``await client.connect(connect_callback=..., disconnect_callback=...)``, then
    ``await client.recv()`` gives raw events; it reconnects by itself.
    """
    if opts.get("ipc_mode") != "tcp":
        path = os.path.join(opts["sock_dir"], "master_event_pub.ipc")
        return UnixSubscriber(path, float(opts.get("tcp_reconnect_backoff", 1)))
    return salt.transport.base.ipc_publish_client("master", opts, io_loop=loop)


class UnixSubscriber:
    """Salt's IPC publish client's interface (connect, recv, close), on a Unix socket."""

    READ = 1 << 16

    def __init__(self, path: str, backoff: float = 1.0) -> None:
        self.path = path
        self.backoff = backoff
        self.unpacker = salt.utils.msgpack.Unpacker()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._on_connect: Callable[[bool], Awaitable[None]] | None = None
        self._on_disconnect: Callable[[], Awaitable[None]] | None = None
        self._closing = False
        self._fresh = False  # nothing returned since the last read

    async def connect(
        self,
        connect_callback: Callable[[bool], Awaitable[None]] | None = None,
        disconnect_callback: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._on_connect, self._on_disconnect = connect_callback, disconnect_callback
        await self._open()

    async def _open(self) -> None:
        while not self._closing:
            try:
                self._reader, self._writer = await asyncio.open_unix_connection(
                    self.path, limit=self.READ
                )
            except OSError as exc:
                log.debug("rest_ext: event bus %s: %r; retrying", self.path, exc)
                await asyncio.sleep(self.backoff)
                continue
            self.unpacker = salt.utils.msgpack.Unpacker()
            if self._on_connect is not None:
                await self._on_connect(True)
            return

    async def recv(self) -> bytes | None:
        """The next raw event (``tag + TAGEND + msgpack``); reconnects when the bus drops."""
        while not self._closing:
            for frame in self.unpacker:
                body = frame.get(b"body") if isinstance(frame, dict) else None
                if isinstance(body, bytes):
                    if not self._fresh:
                        # one read may hold many events: let the streams' writers run
                        # between two of them, as Salt's client (4 KiB reads) does
                        await asyncio.sleep(0)
                    self._fresh = False
                    return body
            data = b""
            if self._reader is not None:
                try:
                    data = await self._reader.read(self.READ)
                except OSError:
                    data = b""
            if data:
                self.unpacker.feed(data)
                self._fresh = True
                continue
            self._drop()
            if self._on_disconnect is not None and not self._closing:
                await self._on_disconnect()
            await asyncio.sleep(self.backoff)
            await self._open()
        return None

    def _drop(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None

    def close(self) -> None:
        self._closing = True
        self._drop()


def split(raw: bytes) -> tuple[str, bytes]:
    """``(tag, undecoded body)`` of a raw event: Salt writes the tag first, then
    ``TAGEND``, then the msgpack body (``SaltEvent.unpack``)."""
    tag, _sep, body = raw.partition(TAGEND)
    return tag.decode("utf-8", "replace"), body


def decode(body: bytes) -> Any:
    """The data of an event body :func:`split` gave; raises on a malformed one."""
    return salt.payload.loads(body, encoding="utf-8")


def unpack(raw: bytes) -> tuple[str, Any]:
    """``(tag, data)`` of a raw event; raises on a malformed one."""
    tag, data = salt.utils.event.SaltEvent.unpack(raw)
    return tag, data
