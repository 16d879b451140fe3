"""Event-stream subscribers (SSE and WebSocket) that count benchmark events cheaply.

Benchmark events carry a marker ``BMK<step>:<send time>:<seq>:`` in their data. A
subscriber does not parse JSON: it finds markers in the raw bytes (a C-speed regex),
counts them, and on sampled connections records ``receive time - send time``.
WebSocket frames are parsed (server frames are unmasked), pings answered with pongs.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field

READY = b"websocket client ready"


@dataclass
class Collector:
    """Shared by every subscriber of one fan-out step."""

    step: str = "none"
    pattern: re.Pattern = re.compile(rb"BMKnone:")
    latencies: list[float] = field(default_factory=list)
    last: float = 0.0  # time.time() of the latest delivery
    on_match: Callable[[re.Match, float], None] | None = None  # instead of counting

    def new_step(self, step: str) -> None:
        self.step = step
        self.pattern = re.compile(rb"BMK" + step.encode() + rb":([0-9.]+):([0-9]+):")
        self.latencies = []
        self.last = 0.0


def marker(step: str, seq: int) -> str:
    return f"BMK{step}:{time.time():.6f}:{seq}:"


class Subscriber(asyncio.Protocol):
    """One SSE (``kind='sse'``) or WebSocket (``kind='ws'``) stream."""

    def __init__(self, kind: str, request: bytes, collector: Collector, sample: bool) -> None:
        self.kind, self.request, self.collector, self.sample = kind, request, collector, sample
        self.transport: asyncio.Transport | None = None
        self.ready: asyncio.Future = asyncio.get_running_loop().create_future()
        self.buf = bytearray()
        self.head_done = False
        self.status = 0
        self.count = 0
        self.closed = False
        self.close_reason = ""
        self.carry = b""

    # -- connection ------------------------------------------------------------
    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.write(self.request)

    def connection_lost(self, exc) -> None:
        self.closed = True
        if not self.ready.done():
            self.ready.set_result(False)

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.abort()

    # -- receiving -------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        if not self.head_done:
            self.buf += data
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            line = bytes(self.buf[: self.buf.find(b"\r\n")])
            self.status = int(line.split(b" ", 2)[1])
            rest = bytes(self.buf[end + 4 :])
            self.buf = bytearray()
            self.head_done = True
            good = self.status == (101 if self.kind == "ws" else 200)
            if good and self.kind == "ws":
                self.transport.write(frame(0x1, READY))  # type: ignore[union-attr]
            if not self.ready.done():
                self.ready.set_result(good)
            if not good:
                self.close_reason = f"HTTP {self.status}"
                self.close()
                return
            data = rest
            if not data:
                return
        if self.kind == "sse":
            self._scan_stream(data)
        else:
            self.buf += data
            self._frames()

    def _scan_stream(self, data: bytes) -> None:
        text = self.carry + data
        skip = len(self.carry)
        now = time.time()
        if self.collector.on_match is not None:
            for match in self.collector.pattern.finditer(text):
                if match.end() > skip:
                    self.collector.on_match(match, now)
            self.carry = text[-64:]
            return
        for match in self.collector.pattern.finditer(text):
            if match.end() <= skip:
                continue
            self.count += 1
            self.collector.last = now
            if self.sample:
                self.collector.latencies.append(now - float(match.group(1)))
        self.carry = text[-64:]

    def _scan_payload(self, payload: bytes) -> None:
        if self.collector.on_match is not None:
            now = time.time()
            for match in self.collector.pattern.finditer(payload):
                self.collector.on_match(match, now)
            return
        matches = self.collector.pattern.findall(payload)
        if matches:
            self.count += len(matches)
            now = self.collector.last = time.time()
            if self.sample:
                self.collector.latencies.extend(now - float(ts) for ts, _ in matches)

    def _frames(self) -> None:
        buf = self.buf
        pos = 0
        while len(buf) - pos >= 2:
            op, ln = buf[pos] & 0x0F, buf[pos + 1] & 0x7F
            head = 2
            if ln == 126:
                if len(buf) - pos < 4:
                    break
                ln, head = struct.unpack_from("!H", buf, pos + 2)[0], 4
            elif ln == 127:
                if len(buf) - pos < 10:
                    break
                ln, head = struct.unpack_from("!Q", buf, pos + 2)[0], 10
            if len(buf) - pos < head + ln:
                break
            payload = bytes(buf[pos + head : pos + head + ln])
            pos += head + ln
            if op in (0x0, 0x1, 0x2):
                self._scan_payload(payload)
            elif op == 0x9:  # ping
                self.transport.write(frame(0xA, payload))  # type: ignore[union-attr]
            elif op == 0x8:  # close
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 0
                self.close_reason = f"ws close {code} {payload[2:].decode(errors='replace')}"
                self.close()
        del buf[:pos]


def frame(opcode: int, payload: bytes) -> bytes:
    """A masked client frame."""
    mask = os.urandom(4)
    size = len(payload)
    if size < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
    elif size < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + masked


def sse_request(host: str, port: int, path: str, token: str) -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: text/event-stream\r\n"
        f"X-Auth-Token: {token}\r\nCache-Control: no-cache\r\n\r\n"
    ).encode()


def ws_request(host: str, port: int, path: str, token: str | None = None) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    auth = f"X-Auth-Token: {token}\r\n" if token else ""
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"Origin: http://{host}:{port}\r\n{auth}\r\n"
    ).encode()


async def open_many(
    host: str,
    port: int,
    kind: str,
    make_request,
    count: int,
    collector: Collector,
    samples: int,
    timeout: float,
    parallel: int = 100,
) -> list[Subscriber]:
    """Open ``count`` subscribers (``parallel`` handshakes at a time) within ``timeout``.

    Returns every subscriber; those whose handshake failed or timed out are closed."""
    loop = asyncio.get_running_loop()
    subs: list[Subscriber] = []
    gate = asyncio.Semaphore(parallel)
    deadline = loop.time() + timeout

    async def one(index: int) -> None:
        async with gate:
            sub = Subscriber(kind, make_request(), collector, index < samples)
            subs.append(sub)
            left = deadline - loop.time()
            if left <= 0:
                sub.close_reason = "not attempted (connect deadline)"
                return
            try:
                await asyncio.wait_for(loop.create_connection(lambda: sub, host, port), left)
                await asyncio.wait_for(asyncio.shield(sub.ready), max(0.01, deadline - loop.time()))
            except (OSError, asyncio.TimeoutError) as exc:
                sub.close_reason = sub.close_reason or f"connect: {exc!r}"[:120]
                sub.close()

    await asyncio.gather(*(one(i) for i in range(count)))
    return subs


def connected(subs: list[Subscriber]) -> int:
    return sum(1 for s in subs if s.ready.done() and s.ready.result() and not s.closed)
