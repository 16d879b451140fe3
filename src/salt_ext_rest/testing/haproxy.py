"""HAProxy (Debian's package) as the HTTP load balancer in front of several salt-apis.

:class:`Haproxy` runs ``haproxy`` in the foreground on a free loopback port with one
backend per API URL, round robin per request, a health check (``GET /`` by default;
``check_path="/readyz"`` for rest_ext's readiness probe) every half second (a stopped
or unready API is out within a second and back as soon as it passes), and
timeouts long enough for event streams (``timeout server`` for SSE, ``timeout tunnel``
for WebSockets). ``server_states()`` reads the backends' state from the admin socket.
The :func:`rest_ext_haproxy_factory` fixture skips the test without ``haproxy`` on the
PATH and fails it when ``CI`` is set (``bash scripts/test`` installs the package).
"""

from __future__ import annotations

import contextlib
import pathlib
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from urllib.parse import urlsplit

import pytest

from salt_ext_rest.testing.programs import ManagedProcess, require_program

START_TIMEOUT = 10.0

CONFIG = """\
global
    maxconn 2000
    stats socket {socket} mode 600 level admin

defaults
    mode http
    timeout connect 2s
    timeout client 1h
    timeout server 1h
    timeout tunnel 1h
    timeout http-request 30s
    timeout http-keep-alive 5s
    timeout check 3s
    retries 2
    option redispatch

frontend rest_ext
    bind 127.0.0.1:{port}
    default_backend rest_ext_apis

backend rest_ext_apis
    balance roundrobin
    option httpchk GET {check_path}
    http-check expect status 200
{servers}
"""
SERVER = "    server api{index} {address} check inter 500ms fall 1 rise 1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def render_config(
    port: int, backends: Sequence[str], admin_socket: pathlib.Path, check_path: str = "/"
) -> str:
    """The haproxy.cfg text for ``backends`` (base URLs ``http://host:port``)."""
    servers = "\n".join(
        SERVER.format(index=i, address=urlsplit(url).netloc) for i, url in enumerate(backends)
    )
    return CONFIG.format(port=port, servers=servers, socket=admin_socket, check_path=check_path)


class Haproxy(ManagedProcess):
    """One ``haproxy`` process balancing over ``backends``; ``url`` is its base URL."""

    def __init__(
        self, directory: pathlib.Path, backends: Sequence[str], check_path: str = "/"
    ) -> None:
        self.directory = directory
        self.backends = list(backends)
        self.check_path = check_path
        self.port = free_port()
        self.admin_socket = directory / "admin.sock"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        config = self.directory / "haproxy.cfg"
        config.write_text(
            render_config(self.port, self.backends, self.admin_socket, self.check_path)
        )
        log = open(self.directory / "haproxy.log", "ab")  # noqa: SIM115 (the child keeps it)
        self.process = subprocess.Popen(
            ["haproxy", "-db", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        self.wait_until(self.all_up)

    def all_up(self) -> bool:
        states = self.server_states()
        return len(states) == len(self.backends) and set(states.values()) == {"UP"}

    def wait_until(self, predicate: Callable[[], bool], timeout: float = START_TIMEOUT) -> None:
        """Poll ``predicate`` (e.g. on :meth:`server_states`) until true or fail."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError(f"haproxy is not running; see {self.directory}/haproxy.log")
            if time.monotonic() > deadline:
                raise TimeoutError(f"haproxy backends: {self.server_states()}")
            time.sleep(0.05)

    def admin(self, command: str) -> str:
        """Send one command to the admin socket; return the answer ("" if unreachable)."""
        try:
            with socket.socket(socket.AF_UNIX) as sock:
                sock.settimeout(2)
                sock.connect(str(self.admin_socket))
                sock.sendall(command.encode() + b"\n")
                chunks = []
                while chunk := sock.recv(65536):
                    chunks.append(chunk)
        except OSError:
            return ""
        return b"".join(chunks).decode()

    def server_states(self) -> dict[str, str]:
        """``{"api0": "UP", "api1": "DOWN", ...}`` from ``show stat``."""
        lines = self.admin("show stat").splitlines()
        if not lines:
            return {}
        header = lines[0].lstrip("# ").split(",")
        rows = [dict(zip(header, line.split(","), strict=False)) for line in lines[1:] if line]
        return {
            row["svname"]: row["status"].split()[0]
            for row in rows
            if row.get("pxname") == "rest_ext_apis" and row["svname"] not in ("BACKEND", "FRONTEND")
        }


def require_haproxy() -> None:
    require_program("haproxy")


@pytest.fixture(scope="session")
def rest_ext_haproxy_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[..., contextlib.AbstractContextManager[Haproxy]]:
    """``with rest_ext_haproxy_factory(cluster.urls) as balancer:``: HAProxy round robin
    over those APIs; ``balancer.url`` is where clients go. ``check_path="/readyz"``
    health-checks rest_ext's readiness probe instead of ``GET /``."""
    require_haproxy()

    @contextlib.contextmanager
    def factory(backends: Sequence[str], check_path: str = "/") -> Iterator[Haproxy]:
        with Haproxy(tmp_path_factory.mktemp("haproxy"), backends, check_path) as balancer:
            yield balancer

    return factory
