"""Stream clients for tests: SSE and WebSocket readers on asyncio, and a condition wait."""

import asyncio
import json
import time
from typing import Any

import tornado.httpclient
import tornado.websocket


def parse_sse(text):
    """Complete SSE messages in ``text`` → (messages, rest). A message is a dict of fields.

    CR LF and a lone CR end a line too, as in browsers (a trailing CR waits for more).
    """
    messages = []
    if text.endswith("\r"):
        text, held = text[:-1], "\r"
    else:
        held = ""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    while "\n\n" in text:
        block, text = text.split("\n\n", 1)
        fields: dict[str, str] = {}
        for line in block.split("\n"):
            if line.startswith(":") or ":" not in line:
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            fields[name] = fields[name] + "\n" + value if name in fields else value
        if fields:
            messages.append(fields)
    return messages, text + held


class SseReader:
    """Reads ``GET /events`` into ``messages`` (dicts with id/tag/data/retry)."""

    def __init__(self, url, token=None, query="", headers=None):
        self.url = f"{url}/events{query}"
        self.headers = {"Accept": "text/event-stream", **(headers or {})}
        if token:
            self.headers["X-Auth-Token"] = token
        self.messages = []
        self.raw = ""  # every byte received, decoded (to check the framing itself)
        self._buffer = ""
        self.task = None
        self.error = None

    def _on_chunk(self, chunk):
        self.raw += chunk.decode("utf-8")
        self._buffer += chunk.decode("utf-8")
        messages, self._buffer = parse_sse(self._buffer)
        self.messages.extend(messages)

    async def _run(self, timeout):
        client = tornado.httpclient.AsyncHTTPClient(force_instance=True)
        request = tornado.httpclient.HTTPRequest(
            self.url, headers=self.headers, streaming_callback=self._on_chunk,
            request_timeout=timeout, connect_timeout=10,
        )  # fmt: skip
        try:
            await client.fetch(request, raise_error=False)
        except Exception as exc:  # timeouts end the read
            self.error = exc
        finally:
            client.close()

    def start(self, timeout=120):
        self.task = asyncio.get_running_loop().create_task(self._run(timeout))
        return self

    async def subscribed(self, timeout=30):
        """Wait until the stream is open: the API writes ``retry:`` once the caller's
        subscription is registered, so events fired after this reach it."""
        await wait_until(lambda: "retry:" in self.raw or self.error, timeout=timeout)
        return self

    def events(self, prefix=""):
        return [
            json.loads(m["data"])
            for m in self.messages
            if "data" in m and m.get("tag", "").startswith(prefix)
        ]

    def stop(self):
        if self.task:
            self.task.cancel()


class WsReader:
    """Reads a WebSocket into ``frames``; sends ``hello`` first when given."""

    def __init__(self, url, hello="websocket client ready", headers=None):
        self.url = url.replace("http://", "ws://", 1)
        self.hello = hello
        self.headers = headers or {}
        self.frames = []
        self.close_code = None
        self.close_reason = None
        self.conn: Any = None  # the WebSocketClientConnection once connected
        self.task = None

    async def connect(self):
        request = tornado.httpclient.HTTPRequest(self.url, headers=self.headers)
        self.conn = await tornado.websocket.websocket_connect(request)
        if self.hello is not None:
            await self.conn.write_message(self.hello)
        self.task = asyncio.get_running_loop().create_task(self._read())
        return self

    async def _read(self):
        while True:
            message = await self.conn.read_message()
            if message is None:
                self.close_code, self.close_reason = self.conn.close_code, self.conn.close_reason
                return
            self.frames.append(message)

    async def send(self, obj):
        await self.conn.write_message(json.dumps(obj))

    def close(self):
        if self.conn is not None:
            self.conn.close()
        if self.task:
            self.task.cancel()


async def wait_until(predicate, timeout=60, interval=0.05):
    """Poll ``predicate`` until it is true or ``timeout`` seconds pass; return its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(interval)
    return predicate()
