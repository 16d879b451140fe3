"""A real ``redis-server`` (Debian's package) on a free loopback port, for tests.

The :func:`redis_server` fixture (session scope) starts one with no persistence in a
temporary directory; tests that need a clean namespace give rest_ext a fresh
``shared_store_prefix`` instead of flushing it. ``stop()`` / ``start()`` take it away
and bring it back on the same port (outage tests). Without ``redis-server`` on the
PATH the fixture skips the test, and fails it when ``CI`` is set
(``bash scripts/test`` installs the package).
"""

from __future__ import annotations

import pathlib
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest

from salt_ext_rest.testing.programs import ManagedProcess, require_program

START_TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer(ManagedProcess):
    """One ``redis-server`` process; ``url`` stays the same across stop/start."""

    def __init__(self, directory: pathlib.Path, port: int | None = None) -> None:
        self.directory = directory
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        if self.process is not None:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        log = open(self.directory / "redis.log", "ab")  # noqa: SIM115 (the child keeps it)
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", str(self.directory),
             "--protected-mode", "no"],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while not self.ping():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not start; see {self.directory}/redis.log")
            time.sleep(0.02)

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False


def require_redis_server() -> None:
    require_program("redis-server")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A running ``redis-server`` for the session (its ``url`` for ``shared_store``)."""
    require_redis_server()
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server
