"""Keep-alive connections pinned to one worker of a multi-process API (blocking, raw).

A connection is served by the worker that accepted it, so ``GET /stats`` on it names
the worker every later request (or stream) on the same connection reaches.
"""

import base64
import json
import os
import socket
import struct
import time
from urllib.parse import urlsplit


class Pinned:
    def __init__(self, url, token, timeout=10.0, pin=True):
        parts = urlsplit(url)
        self.host = f"{parts.hostname}:{parts.port}"
        self.token = token
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
        self.buf = b""
        self.matched_at = None  # when read_until's predicate last held (monotonic)
        self.worker = self.stats()[1]["worker"] if pin else None

    # -- plain requests ------------------------------------------------------------
    def request(self, method, path, headers=None):
        """``(status, body)``; the body read by its Content-Length."""
        self.send(method, path, headers)
        return self.response()

    def response(self):
        """``(status, body)`` of the next response on the connection."""
        status, head = self._head()
        return status, self._read_exactly(int(head.get("content-length", 0)))

    def stats(self):
        status, body = self.request("GET", "/stats")
        return status, (json.loads(body) if status == 200 else {})

    def logout(self):
        return self.request("POST", "/logout", {"Content-Length": "0"})[0]

    # -- streams -------------------------------------------------------------------
    def open_sse(self):
        """``GET /events`` on this connection; returns once the stream is open."""
        self.send("GET", "/events", {"Accept": "text/event-stream"})
        status, _ = self._head()
        assert status == 200, status
        assert self.read_until(lambda buf: b"retry:" in buf, 30), self.buf
        return self

    def open_ws(self):
        """``/all_events/<token>`` upgraded on this connection, then ``client ready``."""
        key = base64.b64encode(os.urandom(16)).decode()
        headers = {"Upgrade": "websocket", "Connection": "Upgrade",
                   "Sec-WebSocket-Key": key, "Sec-WebSocket-Version": "13"}  # fmt: skip
        self.send("GET", f"/all_events/{self.token}", headers)
        status, _ = self._head()
        assert status == 101, status
        self.sock.sendall(masked_text_frame(b"websocket client ready"))
        return self

    def read_until(self, predicate, timeout):
        """Read until ``predicate(all bytes read so far)``; ``False`` on timeout or EOF."""
        deadline = time.monotonic() + timeout
        while not predicate(self.buf):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except OSError:  # a timeout too
                return False
            if not chunk:
                return False
            self.buf += chunk
        self.matched_at = time.monotonic()
        return True

    def wait_sse_end(self, timeout):
        """Until the SSE stream's closing notice and the response's last chunk."""
        return self.read_until(
            lambda buf: b"rest_ext/stream/closed" in buf and buf.endswith(b"0\r\n\r\n"), timeout
        )

    def wait_ws_close(self, timeout):
        """Until the server's WebSocket close frame."""
        return self.read_until(lambda buf: self.ws_close_code() is not None, timeout)

    def ws_frames(self):
        """``[(opcode, payload)]`` of the complete server frames read so far."""
        frames, at, buf = [], 0, self.buf
        while len(buf) >= at + 2:
            opcode, size, at = buf[at] & 0x0F, buf[at + 1] & 0x7F, at + 2
            if size >= 126:
                width = 2 if size == 126 else 8
                if len(buf) < at + width:
                    break
                size = int.from_bytes(buf[at : at + width], "big")
                at += width
            if len(buf) < at + size:
                break
            frames.append((opcode, buf[at : at + size]))
            at += size
        return frames

    def ws_close_code(self):
        """The code of the WebSocket close frame received, if any."""
        for opcode, payload in self.ws_frames():
            if opcode == 0x8 and len(payload) >= 2:
                return struct.unpack("!H", payload[:2])[0]
        return None

    def close(self):
        self.sock.close()

    # -- wire ------------------------------------------------------------------------
    def send(self, method, path, headers=None):
        hdrs = {"Host": self.host, "Accept": "application/json", "X-Auth-Token": self.token,
                **(headers or {})}  # fmt: skip
        head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items())
        self.sock.sendall(head.encode("latin-1") + b"\r\n")

    def _head(self):
        assert self.read_until(lambda buf: b"\r\n\r\n" in buf, 30), self.buf
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        fields = dict(line.split(":", 1) for line in lines[1:])
        return int(lines[0].split()[1]), {k.strip().lower(): v.strip() for k, v in fields.items()}

    def _read_exactly(self, size):
        assert self.read_until(lambda buf: len(buf) >= size, 30), self.buf
        body, self.buf = self.buf[:size], self.buf[size:]
        return body


def masked_text_frame(payload):
    """A client's (masked) final text frame; payloads under 126 bytes."""
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return struct.pack("!BB", 0x81, 0x80 | len(payload)) + mask + masked


def pin_to_workers(url, token, count, per_worker=1, attempts=200):
    """``{worker: [Pinned, ...]}`` with ``per_worker`` connections on each of ``count``
    workers, opening new connections until then (extra ones are closed)."""
    found = {}
    for _ in range(attempts):
        conn = Pinned(url, token)
        group = found.setdefault(conn.worker, [])
        if len(group) < per_worker:
            group.append(conn)
        else:
            conn.close()
        if len(found) == count and all(len(g) == per_worker for g in found.values()):
            return found
    got = {w: len(g) for w, g in found.items()}
    raise AssertionError(f"{attempts} connections reached workers {got}, wanted {count}")
