"""A minimal keep-alive HTTP/1.1 client on asyncio protocols (cheap per request).

Tornado's AsyncHTTPClient costs ~0.3 ms of CPU per request, as much as the servers we
measure; this one parses just the status line, ``Content-Length``/chunked framing and
``Connection: close``, and costs a few tens of microseconds.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit


class HttpError(Exception):
    pass


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


class _Proto(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.waiter: asyncio.Future | None = None
        self.closed = False
        self.head: tuple[int, dict[str, str]] | None = None
        self.need = -1  # body bytes expected (-2: chunked, -3: until close)
        self.head_only = False

    def connection_made(self, transport) -> None:
        self.transport = transport

    def connection_lost(self, exc) -> None:
        self.closed = True
        if self.need == -3 and self.head is not None:
            self._done(bytes(self.buf))
        elif self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(HttpError("connection closed"))

    def data_received(self, data: bytes) -> None:
        self.buf += data
        self._parse()

    def _parse(self) -> None:
        if self.waiter is None or self.waiter.done():
            return
        if self.head is None:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            lines = bytes(self.buf[:end]).decode("latin-1").split("\r\n")
            del self.buf[: end + 4]
            status = int(lines[0].split(" ", 2)[1])
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            self.head = (status, headers)
            if self.head_only or status in (101, 204, 304):
                self.need = 0
            elif headers.get("transfer-encoding", "").lower() == "chunked":
                self.need = -2
            elif "content-length" in headers:
                self.need = int(headers["content-length"])
            else:
                self.need = -3
        if self.need >= 0:
            if len(self.buf) >= self.need:
                body = bytes(self.buf[: self.need])
                del self.buf[: self.need]
                self._done(body)
        elif self.need == -2:
            body = _dechunk(self.buf)
            if body is not None:
                self._done(body)

    def _done(self, body: bytes) -> None:
        status, headers = self.head  # type: ignore[misc]
        self.head, self.need = None, -1
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(Response(status, headers, body))


def _dechunk(buf: bytearray) -> bytes | None:
    """The whole chunked body if complete (and consumed from ``buf``), else None."""
    pos, out = 0, bytearray()
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None
        size = int(bytes(buf[pos:eol]).split(b";")[0], 16)
        if size == 0:
            end = buf.find(b"\r\n\r\n", eol)
            if end < 0 and len(buf) < eol + 4:
                return None
            del buf[: (end + 4 if end >= 0 else eol + 4)]
            return bytes(out)
        if len(buf) < eol + 2 + size + 2:
            return None
        out += buf[eol + 2 : eol + 2 + size]
        pos = eol + 2 + size + 2


@dataclass
class HttpClient:
    """One keep-alive connection; reconnects when the server closes it."""

    base: str
    timeout: float = 60.0
    proto: _Proto | None = None
    host: str = ""
    port: int = 0
    connects: int = 0
    default_headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        parts = urlsplit(self.base)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80

    async def _connect(self) -> _Proto:
        loop = asyncio.get_running_loop()
        _, proto = await loop.create_connection(_Proto, self.host, self.port)
        self.connects += 1
        return proto

    async def request(
        self,
        method: str,
        path: str,
        body: bytes | str | dict | list | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        hdrs = {
            "Host": f"{self.host}:{self.port}",
            "Accept": "application/json",
            **self.default_headers,
            **(headers or {}),
        }
        if isinstance(body, dict | list):
            body = json.dumps(body)
            hdrs.setdefault("Content-Type", "application/json")
        data = body.encode() if isinstance(body, str) else (body or b"")
        if data or method in ("POST", "PUT"):
            hdrs["Content-Length"] = str(len(data))
        head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items())
        raw = head.encode("latin-1") + b"\r\n" + data
        for attempt in (1, 2):
            if self.proto is None or self.proto.closed:
                self.proto = await self._connect()
            proto = self.proto
            proto.waiter = asyncio.get_running_loop().create_future()
            proto.head_only = method == "HEAD"
            proto.transport.write(raw)  # type: ignore[union-attr]
            proto._parse()
            try:
                resp = await asyncio.wait_for(proto.waiter, self.timeout)
            except HttpError:
                self.proto = None
                if attempt == 2:
                    raise
                continue  # a keep-alive connection the server had closed: retry once
            except asyncio.TimeoutError:
                self.close()
                raise
            if resp.headers.get("connection", "").lower() == "close":
                self.close()
            return resp
        raise HttpError("unreachable")

    def close(self) -> None:
        if self.proto is not None and self.proto.transport is not None:
            self.proto.transport.close()
        self.proto = None


@dataclass
class LoadResult:
    ok: int = 0
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    wall: float = 0.0
    error_samples: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.ok / self.wall if self.wall else 0.0


Op = Callable[[HttpClient, int], Awaitable[bool]]


async def run_load(
    make_client: Callable[[], HttpClient],
    op: Op,
    concurrency: int,
    max_count: int,
    max_seconds: float,
) -> LoadResult:
    """Run ``op`` from ``concurrency`` workers until ``max_count`` ops or ``max_seconds``."""
    result = LoadResult()
    issued = 0
    start = time.perf_counter()
    deadline = start + max_seconds

    async def worker() -> None:
        nonlocal issued
        client = make_client()
        try:
            while issued < max_count and time.perf_counter() < deadline:
                index = issued
                issued += 1
                t0 = time.perf_counter()
                try:
                    good = await op(client, index)
                except Exception as exc:
                    good = False
                    client.close()
                    if len(result.error_samples) < 5:
                        result.error_samples.append(repr(exc)[:200])
                if good:
                    result.ok += 1
                    result.latencies.append(time.perf_counter() - t0)
                else:
                    result.errors += 1
        finally:
            client.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.wall = time.perf_counter() - start
    return result
