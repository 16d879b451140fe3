"""WebSocket event streams, in rest_tornado's and rest_cherrypy's framings.

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
import struct
import urllib.parse
from typing import Any

import tornado.iostream
import tornado.web
import tornado.websocket

from salt_ext_rest.auth.backends import authenticate
from salt_ext_rest.auth.identity import Credentials, Identity
from salt_ext_rest.context import ApiContext
from salt_ext_rest.errors import Forbidden, MethodNotAllowed, RestError, Unauthorized
from salt_ext_rest.events.filters import EventFilter
from salt_ext_rest.events.model import BusEvent
from salt_ext_rest.events.service import Stream, formatter_for, open_stream
from salt_ext_rest.events.subscription import StreamClosed
from salt_ext_rest.http import origin, request_id
from salt_ext_rest.http.credentials import COOKIE, from_request
from salt_ext_rest.operations import audit

log = logging.getLogger(__name__)

READY = "websocket client ready"
MISSING = object()
BATCH = 256
MAX_MESSAGE = 64 * 1024


class EventSocket(tornado.websocket.WebSocketHandler):
    """Base for event WebSockets: authenticate, then pump formatted events."""

    long_lived = True  # shutdown does not wait for streams to "finish"
    frames_per_key = False  # True when ``frame`` depends on the subscription key
    holds_slot = True  # one event stream per connection (see :mod:`.stream_slots`)

    @property
    def max_message_size(self) -> int:
        return MAX_MESSAGE  # clients only send short control messages

    def initialize(self, context: ApiContext, format: str = "raw", wait_ready: bool = True):
        self.context = context
        self.format_name = format
        self.wait_ready = wait_ready
        self.identity: Identity | None = None
        self.pumps: dict[str, asyncio.Task] = {}
        self._slot: str | None = None  # the token whose stream slot this connection holds

    def set_default_headers(self) -> None:
        request_id.stamp(self)  # on the upgrade (101) and on every refusal

    def get_compression_options(self) -> None:
        # Event frames are built once and shared by every subscriber: never compressed.
        return None

    def check_origin(self, origin: str) -> bool:
        return True  # checked in ``get`` before authentication, with a JSON refusal

    def origin_refusal(self, credentials: Credentials) -> str | None:
        """Why the upgrade's ``Origin`` is refused: as for any unsafe request when the
        cookie authenticates it (``*`` never admits it); otherwise an ``Origin`` must be
        this host or listed in ``cors_origin`` (``*`` admits any)."""
        config = self.context.config
        if credentials.source == "cookie" and config.csrf_check:
            return origin.refuse_cookie(self.request, config)
        claimed = self.request.headers.get("Origin")
        if claimed is None or "*" in config.cors_origin or claimed in config.cors_origin:
            return None
        netloc = urllib.parse.urlsplit(claimed).netloc.lower()
        if netloc and netloc == self.request.headers.get("Host", "").lower():
            return None
        return f"Origin {claimed!r} is not allowed"

    def credentials(self, path_token: str | None) -> Credentials:
        return from_request(self.request, self.get_cookie(COOKIE), path_token)

    async def get(self, *args: Any, **kwargs: Any) -> None:
        token = args[0] if args else None
        audit.bind(request_id.stamp(self), request_id.peer_address(self.request))
        credentials = self.credentials(token)
        refusal = self.origin_refusal(credentials)
        if refusal:
            self._refuse(Forbidden(refusal))
            return
        self.context.bus.flush()  # a held read may carry a revocation notice
        identity = await authenticate(self.context.authenticators, credentials)
        if identity is None and self.requires_credentials():
            self._refuse(Unauthorized("No valid credentials"))
            return
        self.identity = identity
        if identity is not None and self.holds_slot:
            await self.application.stream_slots.acquire(identity.token)  # type: ignore[attr-defined]
            self._slot = identity.token
        try:
            await super().get(*args, **kwargs)
        finally:
            if self.ws_connection is None:  # not upgraded: no stream will open
                self._release_slot()

    def _release_slot(self) -> None:
        token, self._slot = self._slot, None
        if token is not None:
            self.application.stream_slots.release(token)  # type: ignore[attr-defined]

    def requires_credentials(self) -> bool:
        return True

    # -- refusals: always a JSON body, whoever refuses (this class or Tornado) --------
    def _refuse(self, error: RestError) -> Any:
        self._json_error = True
        self.set_status(error.status, error.reason)
        self.set_header("Content-Type", "application/json")
        if error.status == 405:
            self.set_header("Allow", "GET")
        return super().finish(json.dumps(error.body()))

    def finish(self, chunk: Any = None) -> Any:
        """Tornado refuses some requests itself (not an upgrade, bad WebSocket headers,
        426) with a text body or none: the same refusal as a JSON body instead."""
        status = self.get_status()
        if status < 400 or getattr(self, "_json_error", False):
            return super().finish(chunk)
        message = chunk.decode("utf-8", "replace") if isinstance(chunk, bytes) else chunk
        error = RestError(str(message or self._reason))
        error.status, error.reason = status, self._reason
        return self._refuse(error)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs["exc_info"][1] if kwargs.get("exc_info") else None
        if isinstance(exc, RestError) or not isinstance(exc, tornado.web.HTTPError | None):
            error = self.context.map_exception(exc)
        elif status_code == 405:
            error = MethodNotAllowed(f"{self.request.method} is not allowed here")
        else:
            error = RestError(getattr(exc, "log_message", None) or self._reason)
            error.status, error.reason = status_code, self._reason
        self._refuse(error)

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if not isinstance(value, RestError | tornado.web.HTTPError):
            super().log_exception(typ, value, tb)  # refusals are answered, not logged

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
        name = stream.formatter.name
        self.context.audit.stream(self.identity, None, "websocket", name, key)
        reason = "client closed the stream"
        try:
            await self.pump(key, stream)
        except StreamClosed as closed:
            reason = closed.reason
            self.stream_closed(key, closed)
        except (tornado.websocket.WebSocketClosedError, tornado.iostream.StreamClosedError):
            pass
        finally:
            stream.close()
            self.pumps.pop(key, None)
            self.context.audit.stream(self.identity, reason, "websocket", name, key)

    async def open_stream(self, event_filter: EventFilter, fmt: str, resume: str | None) -> Stream:
        assert self.identity is not None
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
            # Write what is already queued too, in one write; wait only when the
            # socket has not taken it all (the subscriber's queue absorbs the rest).
            pending = self.send_events(key, stream, [event, *sub.take(BATCH)])
            if pending is not None and not pending.done():
                await pending

    def send_events(self, key: str, stream: Stream, events: list[BusEvent]) -> Any:
        """Write the events' frames straight to the connection; a future if not all sent.

        An event's frame is the same bytes for every subscriber of a formatter (unless
        ``frame`` depends on the subscription key), so it is built once per event;
        Tornado's ``write_message`` would rebuild it and start a Task per client.
        """
        formatter = stream.formatter
        frames = [f for e in events if (f := self.wire_frame(key, e, formatter)) is not None]
        conn = self.ws_connection
        if not frames:
            return None
        if conn is None or conn.is_closing() or conn.stream is None:
            raise tornado.websocket.WebSocketClosedError()
        try:
            return write_through(conn.stream, frames[0] if len(frames) == 1 else b"".join(frames))
        except (tornado.iostream.StreamClosedError, OSError) as exc:
            raise tornado.websocket.WebSocketClosedError() from exc

    def wire_frame(self, key: str, event: BusEvent, formatter: Any) -> bytes | None:
        if not self.frames_per_key:
            cached = event.rendered.get(f"ws:{formatter.name}", MISSING)
            if cached is not MISSING:
                return cached
        message = event.render(formatter.name, formatter.format)
        frame = None if message is None else text_frame(self.frame(key, event, message, formatter))
        if not self.frames_per_key:
            event.rendered[f"ws:{formatter.name}"] = frame
        return frame

    def frame(self, key: str, event: Any, message: str, formatter: Any) -> str:
        return message

    def stream_closed(self, key: str, closed: StreamClosed) -> None:
        self.close(closed.code, closed.reason[:120])

    def send_error_message(self, key: str, error: RestError) -> None:
        self.close(1008, error.message[:120])

    def on_close(self) -> None:
        self._release_slot()
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


def write_through(stream: tornado.iostream.BaseIOStream, data: bytes) -> Any:
    """``stream.write(data)``, but with one ``send`` when the stream is idle.

    On a plain TCP stream with nothing pending, the bytes go straight to the socket:
    no Future, no callback, no buffer bookkeeping per subscriber. Whatever the
    kernel does not take (or any TLS stream) goes through Tornado's buffered write,
    whose future is returned for the caller to wait on.
    """
    if type(stream) is tornado.iostream.IOStream and not stream.writing():
        try:
            sent = stream.socket.send(data)
        except BlockingIOError:
            sent = 0
        if sent == len(data):
            return None
        data = data[sent:]
    return stream.write(data)


def text_frame(message: str) -> bytes:
    """An unmasked, uncompressed, final WebSocket text frame (RFC 6455 5.2)."""
    data = message.encode("utf-8")
    size = len(data)
    if size < 126:
        head = struct.pack("!BB", 0x81, size)
    elif size <= 0xFFFF:
        head = struct.pack("!BBH", 0x81, 126, size)
    else:
        head = struct.pack("!BBQ", 0x81, 127, size)
    return head + data
