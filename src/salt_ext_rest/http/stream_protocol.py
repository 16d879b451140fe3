"""``/stream``: rest_ext's own WebSocket protocol, with no token in the URL.

Authenticate with ``X-Auth-Token``, the ``session_id`` cookie, or a first message
``{"type": "auth", "token": "..."}`` (within 10 s). Then, as JSON messages:

* ``{"type": "subscribe", "id": "s1", "tags": [...], "jids": [...], "minions": [...],
  "format": "raw", "resume": "<event id>"}`` → ``{"type": "subscribed", "id": "s1"}``
  then ``{"type": "event", "subscription": "s1", "id", "tag", "event"}`` per event;
* ``{"type": "subscribe", "id": "j1", "job": "<jid>", "timeout": 15}``: one job, as
  ``GET /jobs/<jid>/events`` gives it (replay unless ``resume``, live events, then the
  event tagged ``salt/netapi/rest_ext/job/<jid>/summary``), then
  ``{"type": "end", "subscription": "j1"}``: the subscription is over;
* ``{"type": "unsubscribe", "id": "s1"}`` → ``{"type": "unsubscribed", "id": "s1"}``;
* ``{"type": "ping"}`` → ``{"type": "pong"}``.

Problems come back as ``{"type": "error", "status", "message"}``; a subscription cut
off (slow consumer) as ``{"type": "closed", "subscription", "reason", "code"}``. When
the token expires or is revoked, the connection closes with 1008.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import tornado.iostream
import tornado.websocket

from salt_ext_rest.auth.backends import authenticate
from salt_ext_rest.context import ApiContext
from salt_ext_rest.errors import BadRequest, RestError
from salt_ext_rest.events.filters import EventFilter
from salt_ext_rest.events.model import BusEvent
from salt_ext_rest.events.service import CLOSE_POLICY
from salt_ext_rest.events.subscription import StreamClosed
from salt_ext_rest.http.credentials import from_message
from salt_ext_rest.http.job_stream import JobFollow, job_timeout
from salt_ext_rest.http.resources import JID_PATTERN
from salt_ext_rest.http.websockets import MAX_MESSAGE, EventSocket

AUTH_TIMEOUT = 10.0
PRE_AUTH_MESSAGE = 4096
MAX_SUBSCRIPTIONS = 16


class StreamSocket(EventSocket):
    frames_per_key = True  # each event frame names its subscription
    holds_slot = False  # each subscription takes a stream slot, not the connection

    @property
    def max_message_size(self) -> int:
        # Before authentication only a short auth message is expected: a larger one
        # closes the connection (1009) before it is even read.
        return MAX_MESSAGE if self.identity is not None else PRE_AUTH_MESSAGE

    def initialize(self, context: ApiContext, format: str = "raw", wait_ready: bool = True):
        super().initialize(context, format, wait_ready)
        self._auth_timer: asyncio.TimerHandle | None = None

    def requires_credentials(self) -> bool:
        return False

    def open(self, *args: Any, **kwargs: Any) -> None:
        if self.identity is not None:
            self.send({"type": "ready", "user": self.identity.name})
        else:
            loop = asyncio.get_running_loop()
            self._auth_timer = loop.call_later(AUTH_TIMEOUT, self._auth_timeout)

    def _auth_timeout(self) -> None:
        if self.identity is None:
            self.close(CLOSE_POLICY, "authentication required")

    def send(self, message: dict[str, Any]) -> None:
        if self.ws_connection is not None and not self.ws_connection.is_closing():
            self.write_message(json.dumps(message, default=str))

    async def on_message(self, message: str | bytes) -> None:
        try:
            msg = json.loads(message)
            if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
                raise ValueError
        except (ValueError, RecursionError):  # RecursionError: JSON nested too deeply
            return self.send(
                {"type": "error", "status": 400, "message": "send JSON objects with a 'type'"}
            )
        try:
            await self.handle(msg)
        except RestError as error:
            self.send({"type": "error", "status": error.status, "message": error.message})

    async def handle(self, msg: dict[str, Any]) -> None:
        kind = msg["type"]
        if kind == "ping":
            return self.send({"type": "pong", "id": msg.get("id")})
        if kind == "auth":
            return await self.handle_auth(msg)
        if self.identity is None:
            raise BadRequest("authenticate first: {'type': 'auth', 'token': ...}")
        if kind == "subscribe":
            return await self.handle_subscribe(msg)
        if kind == "unsubscribe":
            return self.handle_unsubscribe(msg)
        raise BadRequest(f"unknown message type {kind!r}")

    async def handle_auth(self, msg: dict[str, Any]) -> None:
        if self.identity is not None:
            raise BadRequest("already authenticated")
        token = msg.get("token")
        identity = await authenticate(self.context.authenticators, from_message(token))
        if identity is None:
            self.close(CLOSE_POLICY, "authentication failed")
            return
        self.identity = identity
        params = getattr(self.ws_connection, "params", None)
        if params is not None:  # the limit Tornado checks for each frame from now on
            params.max_message_size = MAX_MESSAGE
        if self._auth_timer is not None:
            self._auth_timer.cancel()
        self.send({"type": "ready", "user": identity.name})

    async def handle_subscribe(self, msg: dict[str, Any]) -> None:
        key = str(msg.get("id") or "default")
        if key in self.pumps:
            raise BadRequest(f"subscription {key!r} exists")
        if len(self.pumps) >= MAX_SUBSCRIPTIONS:
            raise BadRequest(f"at most {MAX_SUBSCRIPTIONS} subscriptions per connection")
        job = msg.get("job")
        if job is not None and not (isinstance(job, str) and re.fullmatch(JID_PATTERN, job)):
            raise BadRequest("job: a jid", path="job")
        event_filter = EventFilter.from_message(msg)
        fmt = msg.get("format") or "raw"
        resume = msg.get("resume")
        timeout = job_timeout(self.context.opts, msg.get("timeout")) if job else 0.0
        assert self.identity is not None
        token, slots = self.identity.token, self.application.stream_slots  # type: ignore[attr-defined]
        await slots.acquire(token)
        if self.ws_connection is None or self.ws_connection.is_closing():
            slots.release(token)  # closed while the slot was being taken
            return
        if key in self.pumps:  # subscribed while the slot was being taken
            slots.release(token)
            raise BadRequest(f"subscription {key!r} exists")
        resume = str(resume) if resume else None
        if job:
            task = self.start_job(key, JobFollow(self.context, self.identity, job, timeout), resume)
        else:
            task = self.start(key, event_filter, str(fmt), resume)
        task.add_done_callback(lambda _task: slots.release(token))
        self.send({"type": "subscribed", "id": key})

    def start_job(self, key: str, job: JobFollow, resume: str | None) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(self._serve_job(key, job, resume))
        self.pumps[key] = task
        return task

    async def _serve_job(self, key: str, job: JobFollow, resume: str | None) -> None:
        """One job's events (as ``GET /jobs/<jid>/events``), its summary, then ``end``."""
        try:
            stream = await job.open(resume, "websocket")
        except RestError as error:
            self.pumps.pop(key, None)
            return self.send_error_message(key, error)
        audit, identity = self.context.audit, job.identity
        audit.stream(identity, None, "websocket", stream.formatter.name, key)
        reason = "job stream ended"

        async def send(events: list[BusEvent]) -> None:
            pending = self.send_events(key, stream, events)
            if pending is not None and not pending.done():
                await pending

        async def idle() -> None:
            self.ping()

        try:
            await send([] if resume else job.replay())
            await job.follow(send, idle)
            if stream.subscription.closed is not None:  # cut off: no summary, no end
                raise stream.subscription.closed
            await send([await job.summary()])
            self.send({"type": "end", "subscription": key})
        except StreamClosed as closed:
            reason = closed.reason
            self.stream_closed(key, closed)
        except (tornado.websocket.WebSocketClosedError, tornado.iostream.StreamClosedError):
            reason = "client closed the stream"
        finally:
            stream.close()
            self.pumps.pop(key, None)
            audit.stream(identity, reason, "websocket", stream.formatter.name, key)

    def handle_unsubscribe(self, msg: dict[str, Any]) -> None:
        key = str(msg.get("id") or "default")
        task = self.pumps.pop(key, None)
        if task is None:
            raise BadRequest(f"no subscription {key!r}")
        task.cancel()
        self.send({"type": "unsubscribed", "id": key})

    def frame(self, key: str, event: Any, message: str, formatter: Any) -> str:
        # JSON payloads are embedded as they are: no parse and re-dump per subscriber.
        payload = message if formatter.media_type.endswith("json") else json.dumps(message)
        head = json.dumps({"type": "event", "subscription": key, "id": event.id, "tag": event.tag})
        return f'{head[:-1]}, "event": {payload}}}'

    def stream_closed(self, key: str, closed: StreamClosed) -> None:
        if closed.code == CLOSE_POLICY:
            self.close(closed.code, closed.reason[:120])
            return
        self.send(
            {"type": "closed", "subscription": key, "reason": closed.reason, "code": closed.code}
        )

    def send_error_message(self, key: str, error: RestError) -> None:
        self.send(
            {"type": "error", "subscription": key, "status": error.status, "message": error.message}
        )
