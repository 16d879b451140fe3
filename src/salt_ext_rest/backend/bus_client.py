"""Salt's event bus as the API reads it: one IPC subscriber and Salt's wire format."""

from __future__ import annotations

import asyncio
from typing import Any

import salt.payload
import salt.transport.base
import salt.utils.event

TAGEND = salt.utils.event.TAGEND.encode()


def master_subscriber(opts: dict[str, Any], loop: asyncio.AbstractEventLoop) -> Any:
    """An unconnected client of the master's event publisher, on ``loop``.

    ``await client.connect(connect_callback=..., disconnect_callback=...)``, then
    ``await client.recv()`` gives raw events; it reconnects by itself.
    """
    return salt.transport.base.ipc_publish_client("master", opts, io_loop=loop)


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
