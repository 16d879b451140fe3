"""Physical limits: a bare Tornado server (no Salt, no auth), run as its own process.

``GET /``             a small JSON answer (the cheapest possible handler)
``GET /ws``           a WebSocket; after ``websocket client ready`` it receives broadcasts
``POST /broadcast``   ``{"step", "rate", "count", "seconds"}``: send ``count`` event-like
                      JSON frames at ``rate``/s to every ready WebSocket (one JSON encoding
                      per event, one ``write_message`` per client, as a plain Tornado app
                      would), then answer ``{"sent", "elapsed", "clients"}``.

``python bare.py PORT``
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import tornado.web
import tornado.websocket

CLIENTS: set[tornado.websocket.WebSocketHandler] = set()


class Root(tornado.web.RequestHandler):
    def get(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish(b'{"return": "Welcome"}')


class Socket(tornado.websocket.WebSocketHandler):
    def check_origin(self, origin: str) -> bool:
        return True

    def on_message(self, message) -> None:
        if message == "websocket client ready":
            CLIENTS.add(self)

    def on_close(self) -> None:
        CLIENTS.discard(self)


def broadcast(tag: str, step: str, seq: int) -> None:
    data = {
        "m": f"BMK{step}:{time.time():.6f}:{seq}:",
        "seq": seq,
        "_stamp": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    message = json.dumps({"tag": tag, "data": data})
    for client in list(CLIENTS):
        try:
            client.write_message(message)
        except tornado.websocket.WebSocketClosedError:
            CLIENTS.discard(client)


class Broadcast(tornado.web.RequestHandler):
    async def post(self) -> None:
        cmd = json.loads(self.request.body)
        step, rate, count = cmd["step"], float(cmd["rate"]), int(cmd["count"])
        seconds = float(cmd.get("seconds", 60))
        tag = f"bench/fanout/{step}"
        start = time.perf_counter()
        sent = 0
        while sent < count and time.perf_counter() - start < seconds:
            due = start + sent / rate if rate > 0 else 0.0
            # yield once per event (the writes' tasks run), sleep when ahead of schedule
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            broadcast(tag, step, sent)
            sent += 1
        elapsed = time.perf_counter() - start
        self.finish({"sent": sent, "elapsed": elapsed, "clients": len(CLIENTS)})


async def main(port: int) -> None:
    app = tornado.web.Application([(r"/", Root), (r"/ws", Socket), (r"/broadcast", Broadcast)])
    app.listen(port, address="127.0.0.1", backlog=1024)
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
