"""WebSocket event streams (REFERENCE.md R13).

* ``/all_events/<token>`` (rest_tornado): after the client sends
  ``websocket client ready``, JSON frames ``{"tag", "data"}``.
* ``/formatted_events/<token>`` (rest_tornado): the minions/jobs view.
* ``/ws`` and ``/ws/<token>`` (rest_cherrypy): text frames ``data: <json>``;
  ``?format_events`` gives the formatted view.

The connection is authenticated before the upgrade (401 JSON otherwise); it closes
with a code and a reason when the token expires or is revoked, or when the client
cannot keep up (1013).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import tornado.websocket

from salt_ext_rest.auth.backends import authenticate
from salt_ext_rest.auth.identity import Credentials, Identity
from salt_ext_rest.context import ApiContext
from salt_ext_rest.errors import RestError, Unauthorized
from salt_ext_rest.events.filters import EventFilter
from salt_ext_rest.events.service import Stream, formatter_for, open_stream
from salt_ext_rest.events.subscription import StreamClosed
from salt_ext_rest.http.base import COOKIE

log = logging.getLogger(__name__)

READY = "websocket client ready"
BATCH = 256


class EventSocket(tornado.websocket.WebSocketHandler):
    """Base for event WebSockets: authenticate, then pump formatted events."""

    long_lived = True  # shutdown does not wait for streams to "finish"

    def initialize(self, context: ApiContext, format: str = "raw", wait_ready: bool = True):
        self.context = context
        self.format_name = format
        self.wait_ready = wait_ready
        self.identity: Identity | None = None
        self.pumps: dict[str, asyncio.Task] = {}

    def check_origin(self, origin: str) -> bool:
        allowed = self.context.config.cors_origin
        return "*" in allowed or origin in allowed or super().check_origin(origin)

    def credentials(self, path_token: str | None) -> Credentials:
        if path_token:
            return Credentials(token=path_token, source="url")
        header = self.request.headers.get("X-Auth-Token")
        if header:
            return Credentials(token=header.strip(), source="header")
        cookie = self.get_cookie(COOKIE)
        return Credentials(token=cookie, source="cookie") if cookie else Credentials()

    async def get(self, *args: Any, **kwargs: Any) -> None:
        token = args[0] if args else None
        identity = await authenticate(self.context, self.credentials(token))
        if identity is None and self.requires_credentials():
            return self._refuse(Unauthorized("No valid credentials"))
        self.identity = identity
        await super().get(*args, **kwargs)

    def requires_credentials(self) -> bool:
        return True

    def _refuse(self, error: RestError) -> None:
        self.set_status(error.status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(error.body()))

    def open(self, *args: Any, **kwargs: Any) -> None:
        if not self.wait_ready:
            self.start("default", EventFilter(), self.format_name)

    def on_message(self, message: str | bytes) -> Any:
        if message == READY and "default" not in self.pumps:
            self.start("default", EventFilter(), self.format_name)

    def start(self, key: str, event_filter: EventFilter, fmt: str, resume: str | None = None):
        task = asyncio.get_running_loop().create_task(self._serve(key, event_filter, fmt, resume))
        self.pumps[key] = task
        return task

    async def _serve(self, key: str, event_filter: EventFilter, fmt: str, resume: str | None):
        assert self.identity is not None
        try:
            stream = await self.open_stream(event_filter, fmt, resume)
        except RestError as error:
            return self.send_error_message(key, error)
        try:
            await self.pump(key, stream)
        except StreamClosed as closed:
            self.stream_closed(key, closed)
        except tornado.websocket.WebSocketClosedError:
            pass
        finally:
            stream.close()
            self.pumps.pop(key, None)

    async def open_stream(self, event_filter: EventFilter, fmt: str, resume: str | None) -> Stream:
        assert self.identity is not None
        view = getattr(self.context, "view", None)
        if fmt == "formatted" and view is not None:
            return await view.open_stream(self.identity, event_filter)
        formatter = formatter_for(self.context, fmt, "raw")
        return await open_stream(self.context, self.identity, event_filter, formatter, resume)

    async def pump(self, key: str, stream: Stream) -> None:
        heartbeat = self.context.config.event_heartbeat
        sub = stream.subscription
        while True:
            event = await sub.next(timeout=heartbeat)
            if event is None:
                self.ping()
                continue
            # Write what is already queued too, then wait once for the socket to drain.
            pending = self.send_event(key, stream, event)
            for _ in range(min(sub.backlog(), BATCH)):
                queued = await sub.next(timeout=0)
                if queued is not None:
                    pending = self.send_event(key, stream, queued) or pending
            if pending is not None:
                await pending

    def send_event(self, key: str, stream: Stream, event: Any) -> Any:
        formatter = stream.formatter
        message = event.render(formatter.name, formatter.format)
        if message is None:
            return None
        future = self.write_message(self.frame(key, event, message, formatter))
        # Only the last write of a batch is awaited: retrieve the others' errors quietly.
        future.add_done_callback(_retrieve)
        return future

    def frame(self, key: str, event: Any, message: str, formatter: Any) -> str:
        return message

    def stream_closed(self, key: str, closed: StreamClosed) -> None:
        self.close(closed.code, closed.reason[:120])

    def send_error_message(self, key: str, error: RestError) -> None:
        self.close(1008, error.message[:120])

    def on_close(self) -> None:
        for task in list(self.pumps.values()):
            task.cancel()
        self.pumps.clear()


class CherrypyWsSocket(EventSocket):
    """rest_cherrypy's ``/ws[/<token>]``; ``?format_events`` selects the formatted view."""

    def initialize(self, context: ApiContext, format: str = "sse", wait_ready: bool = True):
        super().initialize(context, format, wait_ready)

    def open(self, *args: Any, **kwargs: Any) -> None:
        if "format_events" in self.request.arguments:
            self.format_name = "formatted"
        super().open(*args, **kwargs)


def _retrieve(future: Any) -> None:
    if not future.cancelled():
        future.exception()
