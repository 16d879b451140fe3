"""Salt's event bus as the API reads it: one IPC subscriber and Salt's wire format.

On the master's Unix socket (``ipc_mode`` not ``tcp``) the subscriber is
:class:`~salt_ext_rest.backend.bus_reader.UnixSubscriber` (large reads, no task per
read or per event, reads held a few milliseconds when nobody needs events promptly).
With ``ipc_mode: tcp`` Salt's own client is used.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
from typing import Any

import msgpack
import salt.payload
import salt.transport.base
import salt.utils.event

from salt_ext_rest.backend.bus_reader import OnConnect, OnDisconnect, OnEvent, UnixSubscriber

log = logging.getLogger(__name__)

TAGEND = salt.utils.event.TAGEND.encode()


def master_subscriber(
    opts: dict[str, Any], loop: asyncio.AbstractEventLoop, idle_hold: float = 0.0
) -> Any:
    """A client of the master's event publisher, on ``loop``: ``await client.run(on_event,
    on_connect, on_disconnect)`` reads raw events until cancelled and reconnects by
    itself; ``on_event(raw)`` returns True when it gave the event to a stream;
    ``idle_hold``: see :mod:`~salt_ext_rest.backend.bus_reader` (Unix socket only)."""
    if opts.get("ipc_mode") != "tcp":
        path = os.path.join(opts["sock_dir"], "master_event_pub.ipc")
        return UnixSubscriber(path, float(opts.get("tcp_reconnect_backoff", 1)), idle_hold)
    return SaltSubscriber(salt.transport.base.ipc_publish_client("master", opts, io_loop=loop))


class SaltSubscriber:
    """Salt's own IPC publish client (``ipc_mode: tcp``) behind :meth:`run`."""

    def __init__(self, client: Any) -> None:
        self.client = client

    async def run(self, on_event: OnEvent, on_connect: OnConnect, on_lost: OnDisconnect) -> None:
        await self.client.connect(connect_callback=on_connect, disconnect_callback=on_lost)
        while True:
            raw = await self.client.recv()
            if raw:
                on_event(raw)

    def flush(self) -> None:
        """Salt's client reads as events come: nothing is ever held."""

    def close(self) -> None:
        self.client.close()


def split(raw: bytes) -> tuple[str, bytes]:
    """``(tag, undecoded body)`` of a raw event: Salt writes the tag first, then
    ``TAGEND``, then the msgpack body (``SaltEvent.unpack``)."""
    tag, _sep, body = raw.partition(TAGEND)
    return tag.decode("utf-8", "replace"), body


class _Unusual(Exception):
    """A body :func:`decode` leaves to Salt's own decoder."""


def _no_ext(code: int, data: bytes) -> Any:
    raise _Unusual(code)


#: Salt's ``salt.payload.loads(body, encoding="utf-8")`` for a body of plain types:
#: msgpack called directly (Salt's wrapper costs about as much again per event)
_plain = functools.partial(
    msgpack.unpackb, raw=False, strict_map_key=False, use_list=True, ext_hook=_no_ext
)


def decode(body: bytes) -> Any:
    """The data of an event body :func:`split` gave; raises on a malformed one. A body
    with an extension type (Salt's datetimes and constants) or bytes that are not
    UTF-8, or one msgpack refuses, is decoded by Salt's ``salt.payload.loads``, which
    decides (the same data either way)."""
    try:
        return _plain(body)
    except Exception:
        return salt.payload.loads(body, encoding="utf-8")


def unpack(raw: bytes) -> tuple[str, Any]:
    """``(tag, data)`` of a raw event; raises on a malformed one."""
    tag, data = salt.utils.event.SaltEvent.unpack(raw)
    return tag, data
