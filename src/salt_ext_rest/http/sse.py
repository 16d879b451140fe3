"""``GET /events``: Server-Sent Events in rest_cherrypy's framing.

``retry: 400`` first, then per event ``tag:``, ``data: {"tag", "data"}`` (in that
order: rest_cherrypy clients read the two lines positionally), ``id:`` and a blank
line; ``: keepalive`` comments when idle. Filters: ``?tag=`` (globs),
``?jid=``, ``?minion=``; ``?format=`` picks another payload formatter
(``formatted``: the minions/jobs view of :mod:`salt_ext_rest.events.formatted`, a
snapshot on every connect, no resume). Resume with the
``Last-Event-ID`` header (browsers send it on reconnect) or ``?last_event_id=``.
Authentication: ``X-Auth-Token`` or the ``session_id`` cookie; never the query string.
"""

from __future__ import annotations

import tornado.iostream

from salt_ext_rest.auth.identity import Identity
from salt_ext_rest.errors import BadRequest
from salt_ext_rest.events.bus import escape_controls
from salt_ext_rest.events.filters import EventFilter
from salt_ext_rest.events.model import BusEvent
from salt_ext_rest.events.service import Stream, formatter_for, open_stream
from salt_ext_rest.events.subscription import StreamClosed
from salt_ext_rest.http import render
from salt_ext_rest.http.base import ApiHandler

BATCH = 256
TOKEN_PARAMS = ("token", "salt_token", "session_id", "x-auth-token")


class EventsHandler(ApiHandler):
    long_lived = True  # shutdown does not wait for streams to "finish"

    def prepare(self) -> None:
        accept = self.request.headers.get("Accept", "")
        if "text/event-stream" in accept:
            self.bind_request()
            self.media = render.JSON  # errors are JSON; the stream is text/event-stream
            return
        super().prepare()

    async def get(self) -> None:
        if any(name.lower() in TOKEN_PARAMS for name in self.request.arguments):
            raise BadRequest(
                "Tokens are not accepted in the query string: use the X-Auth-Token header "
                "or the session_id cookie"
            )
        identity = await self.identify()
        slots = self.application.stream_slots  # type: ignore[attr-defined]
        await slots.acquire(identity.token)
        try:
            await self._serve(identity)
        finally:
            slots.release(identity.token)

    async def _serve(self, identity: Identity) -> None:
        event_filter = EventFilter.from_query(self.request.arguments)
        fmt = self.get_query_argument("format", None)
        formatter = formatter_for(self.context, fmt, "raw")
        last_id = self.request.headers.get("Last-Event-ID") or self.get_query_argument(
            "last_event_id", None
        )
        # (the formatted view ignores last_id: a snapshot on every (re)connect)
        stream = await open_stream(
            self.context, identity, event_filter, formatter, last_id, transport="sse"
        )
        self._stream = stream
        audit = self.context.audit
        audit.stream(identity, None, "sse", formatter.name)
        reason = "client closed the stream"
        try:
            reason = await self._pump(stream) or reason
        except tornado.iostream.StreamClosedError:
            pass  # the client went away
        finally:
            stream.close()
            audit.stream(identity, reason, "sse", formatter.name)

    def on_connection_close(self) -> None:
        # Stop queueing for a client that went away now, not at the next write.
        stream = getattr(self, "_stream", None)
        if stream is not None:
            stream.close()
        super().on_connection_close()

    async def _pump(self, stream: Stream) -> str | None:
        """Write events until the stream closes; why it was closed, if it was."""
        self.set_header("Content-Type", "text/event-stream")
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Accel-Buffering", "no")
        self.write("retry: 400\n\n")
        await self.flush()
        heartbeat = self.context.config.event_heartbeat
        sub = stream.subscription
        while True:
            try:
                event = await sub.next(timeout=heartbeat)
                # Write what is already queued too, then flush once.
                batch = () if event is None else (event, *sub.take(BATCH))
            except StreamClosed as closed:
                self._write_event(stream, _closing_event(closed))
                await self.flush()
                return closed.reason
            if event is None:
                self.write(": keepalive\n\n")
            for queued in batch:
                self._write_event(stream, queued)
            await self.flush()

    def _write_event(self, stream: Stream, event: BusEvent) -> None:
        formatter = stream.formatter
        frame = event.render(f"sse:{formatter.name}", lambda e: _frame(e, formatter.format(e)))
        if frame is not None:
            self.write(frame)


def _frame(event: BusEvent, payload: str | None) -> bytes | None:
    """The SSE message, encoded once for every subscriber: ``tag:`` then ``data:``
    lines (rest_cherrypy's order), then ``id:``. No field value holds a line break."""
    if payload is None:
        return None
    lines = "".join(f"data: {line}\n" for line in payload.splitlines() or [""])
    id_line = f"id: {escape_controls(event.id)}\n" if event.id else ""
    return f"tag: {escape_controls(event.tag)}\n{lines}{id_line}\n".encode()


def _closing_event(closed: StreamClosed) -> BusEvent:
    return BusEvent(
        id="",
        tag="salt/netapi/rest_ext/stream/closed",
        data={"reason": closed.reason, "code": closed.code},
        notice=True,
    )
