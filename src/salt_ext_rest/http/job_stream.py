"""``GET /jobs/<jid>/events``: one job's events as Server-Sent Events, then its summary.

The job's events still in this worker's history first (replay; with ``Last-Event-ID``
only those after it, as on ``/events``), then live ones, filtered by the caller's
event visibility. What the job cache already holds (targeted minions, returns) counts
too, so a job started elsewhere (the CLI, another user) works. When every targeted
minion has returned, or no return came for ``timeout`` seconds (``?timeout=``, default
the master's ``timeout`` + ``gather_job_timeout``), a last event tagged
``salt/netapi/rest_ext/job/<jid>/summary`` carries the envelope of
``GET /jobs/<jid>?view=status`` (silent minions: ``timed_out`` or ``not_connected``)
and the stream ends. :class:`JobFollow` does this for any transport: rest_ext's
WebSocket protocol follows a job with it too (:mod:`.stream_protocol`).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import tornado.iostream

from salt_ext_rest.auth.identity import Identity
from salt_ext_rest.backend import job_cache
from salt_ext_rest.errors import BadRequest, Forbidden
from salt_ext_rest.events.filters import EventFilter
from salt_ext_rest.events.model import BusEvent
from salt_ext_rest.events.service import Stream, StreamContext, formatter_for, open_stream
from salt_ext_rest.http.job_envelope import success_of, summary
from salt_ext_rest.http.sse import BATCH, EventsHandler

SUMMARY_TAG = "salt/netapi/rest_ext/job/{jid}/summary"


class JobTracker:
    """Which minions a job targets and what each returned, from its events."""

    def __init__(self, jid: str, targeted: list[str], returns: dict[str, Any]) -> None:
        self.jid = jid
        self.targeted = set(targeted)
        self.returns: dict[str, dict[str, Any]] = {}
        for mid, ret in returns.items():
            if isinstance(ret, dict):
                self.see_return(mid, ret)

    def see(self, event: BusEvent) -> None:
        parts = event.tag.split("/")
        if len(parts) >= 4 and parts[3] == "new" and isinstance(event.data.get("minions"), list):
            self.targeted.update(m for m in event.data["minions"] if isinstance(m, str))
        elif len(parts) >= 5 and parts[3] == "ret":
            self.see_return(parts[4], event.data)

    def see_return(self, mid: str, ret: dict[str, Any]) -> None:
        self.returns[mid] = {"status": "returned", "retcode": ret.get("retcode"),
                             "success": success_of(ret), "return": ret.get("return")}  # fmt: skip

    @property
    def done(self) -> bool:
        return bool(self.targeted) and self.targeted <= set(self.returns)

    def envelope(self, connected: set[str]) -> dict[str, Any]:
        minions = dict(self.returns)
        for mid in self.targeted - set(minions):
            status = "timed_out" if mid in connected else "not_connected"
            minions[mid] = {"status": status, "retcode": None, "success": None, "return": None}
        ordered = dict(sorted(minions.items()))
        return {"jid": self.jid, "minions": ordered, "summary": summary(ordered)}


def _new_event(jid: str, load: dict[str, Any], targeted: list[str]) -> BusEvent:
    """The job's ``new`` event as the cache knows it (to ask the caller's visibility)."""
    fun = load.get("fun")
    kind = "run" if isinstance(fun, str) and fun.startswith("runner.") else "job"
    data = {"jid": jid, "fun": fun, "user": load.get("user"), "minions": targeted}
    return BusEvent("", f"salt/{kind}/{jid}/new", data)


def job_timeout(opts: dict[str, Any], raw: Any) -> float:
    """A job stream's ``timeout`` (seconds without progress), default the master's
    ``timeout`` + ``gather_job_timeout``; 400 unless 0 < t <= 3600."""
    default = float(opts.get("timeout", 5)) + float(opts.get("gather_job_timeout", 10))
    try:
        value = float(raw) if raw is not None else default
    except (TypeError, ValueError):
        value = -1.0
    if not 0 < value <= 3600:
        raise BadRequest("timeout: seconds, more than 0 and at most 3600", path="timeout")
    return value


class JobFollow:
    """One job's stream, whatever carries it: the caller's visibility checked, the
    job's events replayed, live ones followed, then the summary event."""

    def __init__(self, context: StreamContext, identity: Identity, jid: str, timeout: float):
        self.context = context
        self.identity = identity
        self.jid = jid
        self.timeout = timeout
        self.tracker = JobTracker(jid, [], {})
        self._replayed: set[str] = set()

    async def open(self, last_id: str | None, transport: str) -> Stream:
        """The job's stream (403 if the caller may not see the job); close it after."""
        gateway = self.context.gateway
        load, targeted, returns = await gateway.call(job_cache.job_state, gateway.opts, self.jid)
        self.tracker = JobTracker(self.jid, targeted, returns)
        formatter = formatter_for(self.context, None, "raw")
        job_filter = EventFilter.build(jids=[self.jid])
        stream = await open_stream(
            self.context, self.identity, job_filter, formatter, last_id, transport
        )
        if load and not stream.subscription.matcher(_new_event(self.jid, load, targeted)):
            stream.close()
            raise Forbidden("You may not see this job's events")
        self.stream = stream
        return stream

    def replay(self) -> list[BusEvent]:
        """The job's events still in this worker's history, before live ones."""
        history = self.context.bus.history
        oldest = history.status()["oldest_id"]
        first = history.get(oldest) if oldest else None
        kept = [first, *(history.after(oldest) or [])] if first is not None else []
        sub = self.stream.subscription
        events = [e for e in kept if e is not None and sub.matcher(e)]
        for event in events:
            self.tracker.see(event)
        # live events the replay already gave are skipped in follow
        self._replayed = {e.id for e in events}
        return events

    async def follow(
        self,
        send: Callable[[list[BusEvent]], Awaitable[None]],
        idle: Callable[[], Awaitable[None]],
    ) -> None:
        """Hand live events to ``send`` until every targeted minion returned or none
        did for ``timeout`` seconds; ``idle`` when nothing came for a heartbeat."""
        sub, tracker = self.stream.subscription, self.tracker
        deadline = time.monotonic() + self.timeout
        while not tracker.done:
            left = deadline - time.monotonic()
            if left <= 0 or sub.closed is not None:
                break
            event = await sub.next(timeout=min(left, self.context.config.event_heartbeat))
            if event is None:
                await idle()
                continue
            batch = [e for e in (event, *sub.take(BATCH)) if not (e.id and e.id in self._replayed)]
            for queued in batch:
                if not queued.notice:
                    tracker.see(queued)
                    deadline = time.monotonic() + self.timeout  # progress: wait again
            if batch:
                await send(batch)

    async def summary(self) -> BusEvent:
        """The last event: the job's envelope (silent minions: connected or not)."""
        gateway, tracker = self.context.gateway, self.tracker
        silent = sorted(tracker.targeted - set(tracker.returns))
        online = await gateway.call(lambda: job_cache.connected(gateway.ckminions(), silent))
        data = tracker.envelope(online)
        return BusEvent("", SUMMARY_TAG.format(jid=tracker.jid), data, notice=True)


class JobEventsHandler(EventsHandler):
    async def get(self, jid: str) -> None:  # type: ignore[override]
        self.jid = jid
        await super().get()

    async def _serve(self, identity: Identity) -> None:
        raw = self.get_query_argument("timeout", None)
        job = JobFollow(self.context, identity, self.jid, job_timeout(self.context.opts, raw))
        last_id = self.request.headers.get("Last-Event-ID") or self.get_query_argument(
            "last_event_id", None
        )
        stream = self._stream = await job.open(last_id, "sse")

        async def send(events: list[BusEvent]) -> None:
            for event in events:
                self._write_event(stream, event)
            await self.flush()

        async def idle() -> None:
            self.write(": keepalive\n\n")
            await self.flush()

        try:
            self._start_sse()
            if not last_id:
                for event in job.replay():
                    self._write_event(stream, event)
            await self.flush()
            await job.follow(send, idle)
            await send([await job.summary()])
        except tornado.iostream.StreamClosedError:
            pass  # the client went away
        finally:
            stream.close()

    def _start_sse(self) -> None:
        self.set_header("Content-Type", "text/event-stream")
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Accel-Buffering", "no")
        self.write("retry: 400\n\n")
