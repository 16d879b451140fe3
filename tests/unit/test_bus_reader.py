"""The bus reader on a real Unix socket: order, holds when nobody waits, flush, streams
interleaved, the end of a connection and reconnecting."""

from __future__ import annotations

import asyncio
import functools
import os
import socket
import tempfile
import time

import pytest
import salt.utils.event
import salt.utils.msgpack

from salt_ext_rest.backend.bus_reader import UnixSubscriber
from salt_ext_rest.events.bus import EventBus
from salt_ext_rest.events.bus_parts import idle


def run_async(test):
    """Run an async test in its own event loop (as the other unit tests do)."""

    @functools.wraps(test)
    def wrapper(*args, **kwargs):
        return asyncio.run(test(*args, **kwargs))

    return wrapper


def frame(tag: str, seq: int) -> bytes:
    raw = salt.utils.event.SaltEvent.pack(tag, {"seq": seq})
    return salt.utils.msgpack.packb({"head": {}, "body": raw}, use_bin_type=True)


def seq_of(raw: bytes) -> int:
    return salt.utils.event.SaltEvent.unpack(raw)[1]["seq"]


class Publisher:
    """A stand-in for the master's event publisher: accepts, writes frames."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp()
        self.path = os.path.join(self.dir, "master_event_pub.ipc")
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(self.path)
        self.server.listen()
        self.server.setblocking(False)
        self.conn: socket.socket | None = None

    async def accept(self) -> None:
        loop = asyncio.get_running_loop()
        self.conn, _ = await loop.sock_accept(self.server)

    def send(self, *seqs: int) -> None:
        assert self.conn is not None
        self.conn.sendall(b"".join(frame("bench/x", s) for s in seqs))

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.server.close()


class Reader:
    def __init__(self, pub: Publisher, hold: float = 0.0, streamed: bool = False) -> None:
        self.sub = UnixSubscriber(pub.path, backoff=0.05, hold=hold)
        self.got: list[int] = []
        self.connects = self.losses = 0
        self.streamed = streamed
        self.task: asyncio.Task | None = None

    def on_event(self, raw: bytes) -> bool:
        self.got.append(seq_of(raw))
        return self.streamed

    async def on_connect(self, _ok: bool) -> None:
        self.connects += 1

    async def on_lost(self) -> None:
        self.losses += 1

    def start(self) -> None:
        run = self.sub.run(self.on_event, self.on_connect, self.on_lost)
        self.task = asyncio.get_running_loop().create_task(run)

    async def stop(self) -> None:
        self.sub.close()
        assert self.task is not None
        await asyncio.wait_for(self.task, 2)


async def wait_for(check, timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.002)


@pytest.fixture
def pub():
    publisher = Publisher()
    yield publisher
    publisher.close()


@run_async
async def test_events_in_order_one_by_one_and_in_bursts(pub):
    reader = Reader(pub)
    reader.start()
    await pub.accept()
    for seq in range(5):
        pub.send(seq)
        await wait_for(lambda s=seq: reader.got[-1:] == [s])
    pub.send(*range(5, 500))
    await wait_for(lambda: len(reader.got) == 500)
    assert reader.got == list(range(500))
    assert reader.sub.holds == 0
    await reader.stop()


@run_async
async def test_reads_are_held_only_while_nobody_waits_and_flush_ends_a_hold(pub):
    reader = Reader(pub, hold=0.2)
    reader.sub.idle = lambda: True
    reader.start()
    await pub.accept()
    pub.send(0)
    await wait_for(lambda: reader.got == [0])
    pub.send(1)  # comes soon after the previous read: the reader holds after it
    await wait_for(lambda: reader.got == [0, 1])
    assert reader.sub.holds == 1
    pub.send(2, 3)
    await asyncio.sleep(0.05)
    assert reader.got == [0, 1]  # held: the kernel keeps them
    reader.sub.flush()  # a request or a stream: read what waits, now
    assert reader.got == [0, 1, 2, 3]
    reader.sub.idle = lambda: False  # someone waits: every event as it comes
    pub.send(4)
    await wait_for(lambda: reader.got[-1:] == [4], timeout=0.1)
    pub.send(5)
    await wait_for(lambda: reader.got[-1:] == [5], timeout=0.1)
    assert reader.got == list(range(6))
    await reader.stop()


async def holding(pub, idle, read_every: float | None = None) -> Reader:
    """A reader that has just read two events close together, and so holds."""
    reader = Reader(pub, hold=0.03)
    reader.sub.idle = lambda: idle
    if read_every is not None:
        reader.sub.read_every = lambda: read_every
    reader.start()
    await pub.accept()
    pub.send(0)
    await wait_for(lambda: reader.got == [0])
    pub.send(1)  # soon after the previous read: the reader holds after it
    await wait_for(lambda: reader.got == [0, 1])
    return reader


@run_async
async def test_a_hold_ends_by_itself(pub):
    reader = await holding(pub, True)
    pub.send(2)
    await wait_for(lambda: reader.got == [0, 1, 2], timeout=1.0)
    assert reader.sub.holds >= 1
    await reader.stop()


@run_async
async def test_a_long_hold_reads_the_socket_meanwhile_and_hands_over_at_its_end(pub):
    reader = await holding(pub, 0.6, read_every=0.1)  # a call with slack: 0.6 s
    held = time.monotonic()
    pub.send(2, 3)
    await wait_for(lambda: len(reader.sub._frames) == 2, timeout=0.3)  # read, kept
    assert reader.got == [0, 1]  # ... not handed over yet
    pub.send(4)
    await wait_for(lambda: reader.got == [0, 1, 2, 3, 4], timeout=1.0)
    assert time.monotonic() - held > 0.45  # at the hold's end, in order
    await reader.stop()


@run_async
async def test_a_read_that_finds_many_events_ends_a_hold(pub):
    from salt_ext_rest.backend.bus_reader import FULL_READ

    reader = await holding(pub, 5.0, read_every=0.05)
    pub.send(*range(2, FULL_READ + 2))  # the socket's buffer may have been full
    await wait_for(lambda: len(reader.got) == FULL_READ + 2, timeout=1.0)
    assert reader.got == list(range(FULL_READ + 2))
    await reader.stop()


@run_async
async def test_streams_run_between_two_streamed_events_of_one_read(pub):
    reader = Reader(pub, streamed=True)
    seen: list[int] = []

    async def writer() -> None:  # a stream's writer: notes how many events came so far
        while len(reader.got) < 3:
            seen.append(len(reader.got))
            await asyncio.sleep(0)

    reader.start()
    await pub.accept()
    task = asyncio.get_running_loop().create_task(writer())
    pub.send(0, 1, 2)
    await wait_for(lambda: len(reader.got) == 3)
    await task
    assert reader.got == [0, 1, 2]
    assert 1 in seen and 2 in seen  # it ran after the first and after the second
    await reader.stop()


@run_async
async def test_events_before_the_end_then_reconnect(pub):
    reader = Reader(pub)
    reader.start()
    await pub.accept()
    await wait_for(lambda: reader.connects == 1)
    pub.send(0, 1)
    assert pub.conn is not None
    pub.conn.close()  # the master restarts
    await wait_for(lambda: reader.losses == 1)
    assert reader.got == [0, 1]
    await pub.accept()
    await wait_for(lambda: reader.connects == 2)
    pub.send(2)
    await wait_for(lambda: reader.got == [0, 1, 2])
    await reader.stop()


@run_async
async def test_the_bus_is_idle_only_without_streams_requests_and_waits():
    bus = EventBus({"sock_dir": "/nonexistent"})
    assert idle(bus)
    tap = bus.subscribe(None, lambda event: False)
    assert not idle(bus)  # a stream
    tap.background = True  # the formatted view's own tap
    assert idle(bus)

    class Request:  # http.base.ApiHandler while it runs
        pass

    request = Request()
    bus.requests.add(request)
    assert not idle(bus)
    bus.requests.discard(request)
    assert idle(bus)
    with bus.jobs.watch("20260101000000000000", asyncio.Event()):
        assert not idle(bus)
    assert idle(bus)


@run_async
async def test_with_ipc_mode_tcp_salt_s_client_is_read_as_before():
    from salt_ext_rest.backend.bus_client import SaltSubscriber

    class FakeClient:  # Salt's IPC publish client: connect, then recv()
        def __init__(self):
            self.raws = [b"a", None, b"b"]
            self.callbacks = None

        async def connect(self, connect_callback, disconnect_callback):
            self.callbacks = (connect_callback, disconnect_callback)
            await connect_callback(True)

        async def recv(self):
            if self.raws:
                return self.raws.pop(0)
            await asyncio.sleep(3600)

        def close(self):
            pass

    client = FakeClient()
    sub = SaltSubscriber(client)
    got, connects = [], []

    async def on_connect(ok):
        connects.append(ok)

    async def on_lost():
        pass

    task = asyncio.get_running_loop().create_task(sub.run(got.append, on_connect, on_lost))
    await wait_for(lambda: got == [b"a", b"b"])
    sub.flush()  # nothing is ever held
    assert connects == [True] and client.callbacks == (on_connect, on_lost)
    task.cancel()
    sub.close()


@run_async
async def test_a_job_still_waiting_for_many_returns_lets_reads_be_held():
    bus = EventBus({"sock_dir": "/nonexistent"})

    class Request:  # the synchronous call waiting on its job
        pass

    request = Request()
    bus.requests.add(request)
    with bus.jobs.watch("20260101000000000000", asyncio.Event()) as watch:
        assert not idle(bus)  # no slack: its returns are wanted at once
        watch.slack = 2  # its waiter: many minions still pending
        assert idle(bus)
        other = Request()
        bus.requests.add(other)  # another request in flight: never held
        assert not idle(bus)
        bus.requests.discard(other)
        with bus.jobs.watch("20260101000000000001", asyncio.Event()):
            assert not idle(bus)  # its find_job (or another call) wants them now
        watch.put("salt/job/20260101000000000000/ret/m1", {"return": True})
        assert idle(bus)
        watch.put("salt/job/20260101000000000000/ret/m2", {"return": True})
        assert not idle(bus)  # the slack ran out: the last returns are read at once
        watch.slack = 5
        bus.subscribe(None, lambda event: False)
        assert not idle(bus)  # a stream
    bus.requests.discard(request)
