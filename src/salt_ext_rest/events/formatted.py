"""The formatted minions/jobs view (rest_tornado's ``/formatted_events``).

One :class:`FormattedView` per worker process follows the event bus and keeps the
state (:mod:`salt_ext_rest.events.formatted_state`). A stream first gets a snapshot,
``{"minions": {...}}`` then ``{"jobs": {...}}``, then only what changes, in the same
shapes: partial messages (JSON merge patches keyed by minion id or jid).

Unlike rest_tornado (which ran ``grains.items`` on every minion start), it never
publishes a job nor blocks the loop: grains come from the master's minion data
cache, read on the gateway's executor.
Job history is bounded and never re-sent whole; events of unexpected shapes are skipped.

The view follows the bus only while someone uses it: from the first stream on, until
no stream has been open for :data:`DORMANT_AFTER` seconds. Asleep it costs nothing per
event (a worker nobody watches decodes no job return for it); on waking it re-reads
the accepted minions, and its job history starts from that moment.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from salt_ext_rest.auth.identity import Identity
from salt_ext_rest.events.bus import NOTICE_PREFIX
from salt_ext_rest.events.filters import EventFilter
from salt_ext_rest.events.formatted_model import Change
from salt_ext_rest.events.formatted_state import ViewState
from salt_ext_rest.events.formatters import dumps
from salt_ext_rest.events.model import BusEvent
from salt_ext_rest.events.service import Stream, StreamContext, _guard
from salt_ext_rest.events.subscription import StreamClosed, Subscription
from salt_ext_rest.events.viewer import Viewer, ViewSubscription

log = logging.getLogger(__name__)

TAG_PREFIX = "salt/netapi/rest_ext/formatted/"
SWEEP_INTERVAL = 0.5
LOAD_WAIT = 10.0
SHUTTING_DOWN = 1001
DORMANT_AFTER = 300.0


@dataclass(frozen=True)
class ViewEvent(BusEvent):
    """A view message; ``text`` is its JSON, rendered once for every stream."""

    text: str = field(default="", compare=False, repr=False)


class FormattedFormatter:
    """The view's message as JSON; rest_tornado ended each frame with a blank line."""

    name = "formatted"
    media_type = "application/json"

    def __init__(self, suffix: str = "\n\n") -> None:
        self.suffix = suffix

    def format(self, event: BusEvent) -> str | None:
        if event.notice:
            return None
        return (getattr(event, "text", "") or dumps(event.data)) + self.suffix


def job_timeout(context: StreamContext) -> float:
    """``formatted_job_timeout``, or (0) the master's ``timeout`` + ``gather_job_timeout``."""
    if context.config.formatted_job_timeout > 0:
        return float(context.config.formatted_job_timeout)
    opts = context.opts
    return float(opts.get("timeout") or 5) + float(opts.get("gather_job_timeout") or 10)


class FormattedView:
    """The ``formatted`` event format: a stateful formatter that serves its own streams.

    Registered through ``rest_event_formatters`` like every format; the server starts
    it with the event bus (``start``) and stops it on shutdown (``stop``).
    """

    name = FormattedFormatter.name
    media_type = FormattedFormatter.media_type

    def __init__(self, context: StreamContext) -> None:
        self.context = context
        self.state = ViewState(context.config.formatted_job_history, job_timeout(context))
        self.viewers: list[Viewer] = []
        self.loaded = asyncio.Event()
        self._tasks: set[asyncio.Task] = set()
        self._grains_wanted: set[str] = set()
        self._grains_task: asyncio.Task | None = None
        self._stopping = False
        self._awake: list[asyncio.Task] = []
        self._last_viewer = 0.0

    # -- lifecycle -----------------------------------------------------------------
    def start(self) -> None:
        """Nothing until the first stream (the server starts every formatter)."""

    def wake(self) -> None:
        """Follow the bus, load the accepted minions, expire overdue jobs (on the loop)."""
        if self._awake or self._stopping:
            return
        self.loaded.clear()
        self._awake = [self._spawn(self._follow(self._tap())), self._spawn(self._sweep())]
        self._spawn(self._load())

    def doze(self) -> None:
        """Stop following the bus; the job history is forgotten (it would go stale)."""
        for task in self._awake:
            if task is not asyncio.current_task():
                task.cancel()
        self._awake = []
        self.state.jobs.clear()

    async def stop(self) -> None:
        self._stopping = True
        for viewer in self.viewers:
            viewer.subscription.close("the server is shutting down", SHUTTING_DOWN)
        self.viewers.clear()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _spawn(self, coro: Any) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- feeding -------------------------------------------------------------------
    async def _follow(self, tap: Subscription) -> None:
        """Tap the bus: every event is folded in synchronously by the subscription's
        matcher (which then declines it), so the tap's queue only ever holds notices
        and cannot overflow. After a bus reconnect the minions are re-read."""
        bus = self.context.bus
        while True:
            try:
                while True:
                    notice = await tap.next()
                    if notice is not None and notice.tag == NOTICE_PREFIX + "reconnected":
                        self._spawn(self._load())
            except StreamClosed as closed:
                if closed.code == SHUTTING_DOWN or self._stopping:
                    return
                log.debug("rest_ext: formatted view: bus tap closed (%s)", closed.reason)
            finally:
                bus.unsubscribe(tap)
            await asyncio.sleep(0.1)
            tap = self._tap()

    def _tap(self) -> Subscription:
        """The view's own subscription: it folds events in as they come; it needs no
        promptness of its own (its viewers are subscriptions of the bus as well)."""
        tap = self.context.bus.subscribe(None, self._on_event, tags=ViewState.follows)
        tap.background = True
        return tap

    def _on_event(self, event: BusEvent) -> bool:
        try:
            update = self.state.apply(event, time.monotonic())
            self._emit(update.changes)
            if update.grains:
                self._want_grains(update.grains)
        except Exception:  # an odd event must never stop the bus
            log.debug("rest_ext: formatted view: skipped event %r", event.tag, exc_info=True)
        return False

    async def _load(self) -> None:
        try:
            accepted = await self.context.gateway.accepted_minions()
            self._emit(self.state.sync_minions(accepted))
        except Exception:
            log.warning("rest_ext: formatted view: could not read the accepted minions",
                        exc_info=True)  # fmt: skip
        finally:
            self.loaded.set()

    def _want_grains(self, mids: set[str]) -> None:
        self._grains_wanted |= mids
        if self._grains_task is None or self._grains_task.done():
            self._grains_task = self._spawn(self._fetch_grains())

    async def _fetch_grains(self) -> None:
        """Read cached grains for the wanted minions, batching what arrives meanwhile."""
        while self._grains_wanted:
            mids, self._grains_wanted = sorted(self._grains_wanted), set()
            try:
                found = await self.context.gateway.cached_grains(mids)
            except Exception:
                log.debug("rest_ext: formatted view: grains read failed", exc_info=True)
                continue
            for mid, grains in found.items():
                self._emit(self.state.set_grains(mid, grains))

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_INTERVAL)
            self.viewers = [v for v in self.viewers if v.subscription.closed is None]
            now = time.monotonic()
            if self.viewers:
                self._last_viewer = now
            elif now - self._last_viewer > DORMANT_AFTER:
                self.doze()
                return
            try:
                self._emit(self.state.expire_due(time.monotonic()))
            except Exception:
                log.debug("rest_ext: formatted view: expiry failed", exc_info=True)

    # -- streams -------------------------------------------------------------------
    def _emit(self, changes: list[Change]) -> None:
        if not changes or not self.viewers:
            return
        self.viewers = [v for v in self.viewers if v.subscription.closed is None]
        for change in changes:
            event: ViewEvent | None = None
            for viewer in self.viewers:
                message = viewer.message(change)
                if message is change.message:
                    event = event or view_event(change.message)
                    viewer.subscription.push(event)
                elif message is not None:
                    viewer.subscription.push(view_event(message))

    def format(self, event: BusEvent) -> str | None:
        return FormattedFormatter().format(event)

    async def open_stream(
        self, identity: Identity, event_filter: EventFilter, transport: str = "websocket"
    ) -> Stream:
        """A stream of the view for ``identity``: snapshot first, then changes.

        ``event_filter`` and the visibility policy apply to each job's
        ``salt/job/<jid>/new`` event and to ``salt/minion/<id>/start`` for a minion.
        Over SSE a message is one ``data:`` line; over WebSockets it ends with a blank
        line, as rest_tornado's did.
        """
        context = self.context
        policy = context.visibility[context.config.event_visibility]
        visible = await policy.prepare(identity)
        self._last_viewer = time.monotonic()
        self.wake()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.loaded.wait(), LOAD_WAIT)
        sub = ViewSubscription(identity, lambda event: True, context.config.event_queue_size)
        viewer = Viewer(sub, event_filter, visible)
        self.viewers = [v for v in self.viewers if v.subscription.closed is None]
        minions, jobs = self.state.snapshot(viewer.allows)
        sub.push(view_event({"minions": viewer.minions(minions["minions"])}))
        sub.push(view_event(jobs))
        context.bus.subscriptions.add(sub)
        self.viewers.append(viewer)
        suffix = "" if transport == "sse" else "\n\n"
        stream = Stream(context, sub, FormattedFormatter(suffix))
        stream.guard = asyncio.get_running_loop().create_task(_guard(context, sub, identity))
        return stream


def view_event(message: dict[str, Any]) -> ViewEvent:
    kind = next(iter(message), "view")
    return ViewEvent("", TAG_PREFIX + kind, message, stamp=time.time(), text=dumps(message))
