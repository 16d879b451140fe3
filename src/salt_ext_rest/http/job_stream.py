"""``GET /jobs/<jid>/events``: one job's events as Server-Sent Events, then its summary.

The job's events still in this worker's history first (replay; with ``Last-Event-ID``
only those after it, as on ``/events``), then live ones, filtered by the caller's
event visibility. What the job cache already holds (targeted minions, returns) counts
too, so a job started elsewhere (the CLI, another user) works. When every targeted
minion has returned, or no return came for ``timeout`` seconds (``?timeout=``, default
the master's ``timeout`` + ``gather_job_timeout``), a last event tagged
``salt/netapi/rest_ext/job/<jid>/summary`` carries the envelope of
``GET /jobs/<jid>?view=status`` (silent minions: ``timed_out`` or ``not_connected``)
and the stream ends.
"""

from __future__ import annotations

import time
from typing import Any

import tornado.iostream

from salt_ext_rest.auth.identity import Identity
from salt_ext_rest.backend import job_cache
from salt_ext_rest.errors import BadRequest, Forbidden
from salt_ext_rest.events.filters import EventFilter
from salt_ext_rest.events.model import BusEvent
from salt_ext_rest.events.service import Stream, formatter_for, open_stream
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


class JobEventsHandler(EventsHandler):
    async def get(self, jid: str) -> None:  # type: ignore[override]
        self.jid = jid
        self._replayed: set[str] = set()
        await super().get()

    def _timeout(self) -> float:
        opts = self.context.opts
        default = float(opts.get("timeout", 5)) + float(opts.get("gather_job_timeout", 10))
        raw = self.get_query_argument("timeout", None)
        try:
            value = float(raw) if raw is not None else default
        except ValueError:
            value = -1.0
        if not 0 < value <= 3600:
            raise BadRequest("timeout: seconds, more than 0 and at most 3600", path="timeout")
        return value

    async def _serve(self, identity: Identity) -> None:
        timeout = self._timeout()
        gateway = self.context.gateway
        load, targeted, returns = await gateway.call(job_cache.job_state, gateway.opts, self.jid)
        tracker = JobTracker(self.jid, targeted, returns)
        last_id = self.request.headers.get("Last-Event-ID") or self.get_query_argument(
            "last_event_id", None
        )
        formatter = formatter_for(self.context, None, "raw")
        stream = await open_stream(
            self.context, identity, EventFilter.build(jids=[self.jid]), formatter, last_id, "sse"
        )
        self._stream = stream
        try:
            if load and not stream.subscription.matcher(_new_event(self.jid, load, targeted)):
                raise Forbidden("You may not see this job's events")
            self._start_sse()
            if not last_id:
                self._replay(stream, tracker)
            await self.flush()
            await self._follow(stream, tracker, timeout)
        except tornado.iostream.StreamClosedError:
            pass  # the client went away
        finally:
            stream.close()

    def _start_sse(self) -> None:
        self.set_header("Content-Type", "text/event-stream")
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Accel-Buffering", "no")
        self.write("retry: 400\n\n")

    def _replay(self, stream: Stream, tracker: JobTracker) -> None:
        """The job's events still in this worker's history, before live ones."""
        history = self.context.bus.history
        oldest = history.status()["oldest_id"]
        first = history.get(oldest) if oldest else None
        kept = [first, *(history.after(oldest) or [])] if first is not None else []
        sub = stream.subscription
        replayed = {e.id for e in kept if e is not None and sub.matcher(e)}
        for event in kept:
            if event is not None and event.id in replayed:
                tracker.see(event)
                self._write_event(stream, event)
        # live events the replay already wrote are skipped in _follow
        self._replayed = replayed

    async def _follow(self, stream: Stream, tracker: JobTracker, timeout: float) -> None:
        sub = stream.subscription
        replayed = self._replayed
        deadline = time.monotonic() + timeout
        while not tracker.done:
            left = deadline - time.monotonic()
            if left <= 0 or sub.closed is not None:
                break
            event = await sub.next(timeout=min(left, self.context.config.event_heartbeat))
            batch = () if event is None else (event, *sub.take(BATCH))
            for queued in batch:
                if queued.id and queued.id in replayed:
                    continue
                if not queued.notice:
                    tracker.see(queued)
                    deadline = time.monotonic() + timeout  # progress: wait again
                self._write_event(stream, queued)
            if event is None:
                self.write(": keepalive\n\n")
            await self.flush()
        await self._finish(stream, tracker)

    async def _finish(self, stream: Stream, tracker: JobTracker) -> None:
        gateway = self.context.gateway
        silent = sorted(tracker.targeted - set(tracker.returns))
        online = await gateway.call(lambda: job_cache.connected(gateway.ckminions(), silent))
        data = tracker.envelope(online)
        event = BusEvent("", SUMMARY_TAG.format(jid=tracker.jid), data, notice=True)
        self._write_event(stream, event)
        await self.flush()
