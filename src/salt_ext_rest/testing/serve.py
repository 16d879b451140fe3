"""Serve a Tornado application on a loopback port from a background thread."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator

import tornado.httpserver
import tornado.netutil
import tornado.web

LOOPBACK = "127.0.0.1"


@contextlib.contextmanager
def serve_in_thread(app: tornado.web.Application, timeout: float = 10) -> Iterator[str]:
    """
    Serve ``app`` on a free loopback port in a thread with its own event loop; yield
    its base URL (``http://127.0.0.1:PORT``, no trailing slash); stop on exit.

    Blocking clients (``requests``) can then call the application from the test.
    """
    loop = asyncio.new_event_loop()
    started = threading.Event()
    server = tornado.httpserver.HTTPServer(app)
    (sock,) = tornado.netutil.bind_sockets(0, LOOPBACK)
    port = sock.getsockname()[1]

    def run() -> None:
        asyncio.set_event_loop(loop)
        server.add_sockets([sock])
        loop.call_soon(started.set)
        loop.run_forever()
        loop.run_until_complete(server.close_all_connections())
        loop.close()

    thread = threading.Thread(target=run, name="rest-ext-app", daemon=True)
    thread.start()
    if not started.wait(timeout):
        raise RuntimeError(f"the in-process application did not start within {timeout}s")
    try:
        yield f"http://{LOOPBACK}:{port}"
    finally:

        def stop() -> None:
            server.stop()
            loop.stop()

        loop.call_soon_threadsafe(stop)
        thread.join(timeout)
