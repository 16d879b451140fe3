"""Salt's event bus as the API reads it: one IPC subscriber and Salt's wire format."""

from __future__ import annotations

import asyncio
from typing import Any

import salt.transport.base
import salt.utils.event


def master_subscriber(opts: dict[str, Any], loop: asyncio.AbstractEventLoop) -> Any:
    """An unconnected client of the master's event publisher, on ``loop``.

    ``await client.connect(connect_callback=..., disconnect_callback=...)``, then
    ``await client.recv()`` gives raw events; it reconnects by itself.
    """
    return salt.transport.base.ipc_publish_client("master", opts, io_loop=loop)


def unpack(raw: bytes) -> tuple[str, Any]:
    """``(tag, data)`` of a raw event; raises on a malformed one."""
    tag, data = salt.utils.event.SaltEvent.unpack(raw)
    return tag, data
