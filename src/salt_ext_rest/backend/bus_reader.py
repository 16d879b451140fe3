"""The master's event publisher on its Unix socket, read with as few wake-ups as it can.

Salt's framing (msgpack ``{head, body}``) read straight from a non-blocking socket in
the loop's reader callback: no transport, no stream reader, no task per read or per
event (Salt's client reads 4 KiB at a time, each read a task of its own). Each event
goes to ``on_event(raw)``, which answers whether a stream got it.

When nobody needs events promptly (``idle()``: no stream, no request in flight, no call
waiting on a job) and they come often (the previous read less than the hold plus
:data:`BUSY_WINDOW` ago), events are held ``hold`` seconds (the ``event_idle_hold``
setting) after a read, so a burst costs one wake-up per many events instead of one per
event (each wake-up costs far more than handling an event nobody wants). ``idle()`` may
also answer a number of seconds: a call waiting on a job that still waits for many
returns lets events be held longer, as long as its slack allows
(:meth:`salt_ext_rest.events.job_returns.JobWatch.hold`; its last returns are read at
once: :mod:`salt_ext_rest.backend.job_wait`). A hold longer than ``read_every()``
reads the socket every that many seconds meanwhile, without handing the events over:
the socket's buffer holds a few hundred events, the master's publisher would keep the
rest (and drop a subscriber that leaves too many). Handing over many events at once is
what saves: each handing over starts cold. A read that finds many events ends the hold.
A stream, a request or a resume ends the hold first (:meth:`UnixSubscriber.flush`), so
nothing anyone waits for is late.

When a read holds many events and one of them went to a stream, the rest waits for the
next turn of the loop, so the streams' writers run between two events (as with Salt's
4 KiB reads) and a slow stream's queue is not flooded at once.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import socket
import time
from collections.abc import Awaitable, Callable

import salt.utils.msgpack

log = logging.getLogger(__name__)

OnEvent = Callable[[bytes], bool]
OnConnect = Callable[[bool], Awaitable[None]]
OnDisconnect = Callable[[], Awaitable[None]]

#: seconds the socket is left unread after a read when nobody needs events promptly
#: (the default of the ``event_idle_hold`` setting)
IDLE_HOLD = 0.02
#: the hold applies only when a read comes less than the hold plus this after the
#: previous one (events come often)
BUSY_WINDOW = 0.05
RECV = 1 << 18
#: a read that brought this many events is not followed by a hold (and ends one): the
#: socket's buffer may have been full (the rest then waits at the master's publisher)
FULL_READ = 150
#: seconds between reads during a hold, unless ``read_every`` says otherwise
READ_EVERY = 0.5


class UnixSubscriber:
    """``await run(on_event, on_connect, on_disconnect)`` reads until cancelled or
    closed, reconnecting by itself; ``idle`` tells when reads may be held."""

    def __init__(self, path: str, backoff: float = 1.0, hold: float = IDLE_HOLD) -> None:
        self.path = path
        self.backoff = backoff
        self.hold = hold
        self.unpacker = salt.utils.msgpack.Unpacker()
        self.on_event: OnEvent = lambda raw: False
        #: False: read at once; True: reads may be held ``hold``; a number: that long
        self.idle: Callable[[], bool | float] = lambda: False
        #: seconds between reads while events wait (a hold longer than that is read in
        #: steps: the socket's buffer holds few events, the master keeps the rest)
        self.read_every: Callable[[], float] = lambda: READ_EVERY
        self.holds = 0  # reads held (for /stats and tests)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sock: socket.socket | None = None
        self._lost: asyncio.Future | None = None
        self._listening = False
        self._next: asyncio.Handle | None = None  # a drain or the end of a hold
        self._held = False
        self._last_read = 0.0
        self._window = hold  # the last hold's length (reads "come often" within it)
        self._closing = False
        self._frames: collections.deque = collections.deque()  # read, not handed over
        self._read_count = 0  # events the last read brought
        self._until = 0.0  # (loop time) when the current hold ends

    async def run(self, on_event: OnEvent, on_connect: OnConnect, on_lost: OnDisconnect) -> None:
        self.on_event = on_event
        loop = self._loop = asyncio.get_running_loop()
        while not self._closing:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.setblocking(False)
            try:
                await loop.sock_connect(sock, self.path)
            except OSError as exc:
                sock.close()
                log.debug("rest_ext: event bus %s: %r; retrying", self.path, exc)
                await asyncio.sleep(self.backoff)
                continue
            self._sock, self.unpacker = sock, salt.utils.msgpack.Unpacker()
            self._lost = loop.create_future()
            self._listen()
            try:
                await on_connect(True)
                await self._lost
            finally:
                self._drop()
            if self._closing:
                return
            await on_lost()
            await asyncio.sleep(self.backoff)

    def flush(self) -> None:
        """Someone needs the events now: end a hold (read what waits, then listen)."""
        if self._held:
            self._ready(may_hold=False)

    def close(self) -> None:
        self._closing = True
        self._drop()

    # -- reading -------------------------------------------------------------------
    def _ready(self, may_hold: bool = True) -> None:
        """The socket is readable (or a hold ended): read it all, then hand it over."""
        self._cancel_next()
        got, ended = self._recv()
        got = got or bool(self._frames)  # or read during the hold that ends now
        if ended:
            while self._drain():  # what came before the end, then reconnect
                pass
            self._gone()
            return
        now = time.monotonic()
        recent = now - self._last_read < max(self.hold, self._window) + BUSY_WINDOW
        self._last_read = now
        self._after(may_hold and got and recent)

    def _recv(self) -> tuple[bool, bool]:
        """Read what the socket holds now: (anything came, it ended); its events wait in
        :attr:`_frames` (their number: :attr:`_read_count`)."""
        got, ended = self._recv_bytes()
        before = len(self._frames)
        self._frames.extend(self.unpacker)
        self._read_count = len(self._frames) - before
        return got, ended

    def _recv_bytes(self) -> tuple[bool, bool]:
        got = False
        while self._sock is not None:
            try:
                data = self._sock.recv(RECV)
            except (BlockingIOError, InterruptedError):
                return got, False
            except OSError:
                data = b""
            if not data:
                return got, True
            self.unpacker.feed(data)
            got = True
            if len(data) < RECV:
                return got, False
        return got, True

    def _after(self, may_hold: bool = False) -> None:
        """Hand the events read over; then listen, hold, or go on next turn (streams)."""
        self._next = None
        if self._sock is None:
            return
        if self._drain():
            self._unlisten()
            self._next = self._loop.call_soon(self._after, may_hold)  # type: ignore[union-attr]
        elif (
            may_hold
            and self.hold > 0
            and self._read_count < FULL_READ
            and (seconds := self._hold_for()) > 0
        ):
            self._unlisten()
            self._held = True
            self.holds += 1
            self._window = seconds
            self._until = self._loop.time() + seconds  # type: ignore[union-attr]
            self._next = self._loop.call_later(min(seconds, self.read_every()), self._step)  # type: ignore[union-attr]
        else:
            self._listen()

    def _step(self) -> None:
        """A read during a hold: its events wait for the hold's end, unhandled, here
        rather than at the master's publisher. A read that found many (the buffer may
        have been full), the end of the connection or of the hold end it."""
        self._next = None
        _got, ended = self._recv()
        left = self._until - self._loop.time()  # type: ignore[union-attr]
        if ended or self._read_count >= FULL_READ or left <= 0.001:
            self._ready(may_hold=self._read_count < FULL_READ)
        else:
            self._next = self._loop.call_later(min(left, self.read_every()), self._step)  # type: ignore[union-attr]

    def _hold_for(self) -> float:
        wait = self.idle()
        return self.hold if wait is True else float(wait or 0)

    def _drain(self) -> bool:
        """Events to ``on_event`` in bus order; True when it stopped after a streamed
        one (the rest waits for the next turn of the loop)."""
        frames = self._frames
        while frames:
            frame = frames.popleft()
            body = frame.get(b"body") if isinstance(frame, dict) else None
            if not isinstance(body, bytes):
                continue
            try:
                if self.on_event(body):
                    return True
            except Exception:  # never let one event stop the reader
                log.exception("rest_ext: event bus handler failed")
        return False

    # -- the socket ----------------------------------------------------------------
    def _listen(self) -> None:
        if self._sock is not None and not self._listening:
            self._loop.add_reader(self._sock.fileno(), self._ready)  # type: ignore[union-attr]
            self._listening = True

    def _unlisten(self) -> None:
        if self._listening and self._sock is not None:
            self._loop.remove_reader(self._sock.fileno())  # type: ignore[union-attr]
        self._listening = False

    def _cancel_next(self) -> None:
        if self._next is not None:
            self._next.cancel()
            self._next = None
        self._held = False

    def _gone(self) -> None:
        """The publisher closed the connection (or it failed): :meth:`run` reconnects."""
        self._drop()
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(None)

    def _drop(self) -> None:
        self._cancel_next()
        self._unlisten()
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._closing and self._lost is not None and not self._lost.done():
            self._lost.set_result(None)
