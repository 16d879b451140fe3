"""num_processes > 1: the supervisor checks the port, each worker binds its own
SO_REUSEPORT socket after the fork (forking and serving replaced by stand-ins)."""

import logging
import socket

import pytest

from salt_ext_rest import server
from salt_ext_rest.config import RestConfig


@pytest.fixture
def served(monkeypatch):
    """What the worker would serve on: ``_serve``'s sockets, with no fork and no loop."""
    got = {}

    async def fake_serve(opts, config, sockets, tls):
        got["sockets"] = sockets

    monkeypatch.setattr(server, "_serve", fake_serve)
    monkeypatch.setattr(server.workers, "fork_workers", lambda *args: 0)  # a worker
    yield got
    for sock in got.get("sockets", []):
        sock.close()


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_each_worker_binds_its_own_reuse_port_socket(served):
    port = free_port()
    config = RestConfig(port=port, host="127.0.0.1", disable_ssl=True, num_processes=2)
    server._serve_workers({}, config, None)
    (sock,) = served["sockets"]
    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
    assert sock.getsockname()[1] == port
    # a second worker binds the same port beside it
    (other,) = server._listen(config, reuse_port=True)
    other.close()


def test_a_port_held_by_another_program_stops_the_supervisor_before_any_fork(
    served, monkeypatch, caplog
):
    forked = []
    monkeypatch.setattr(server.workers, "fork_workers", lambda *a: forked.append(a))
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        config = RestConfig(port=port, host="127.0.0.1", disable_ssl=True, num_processes=2)
        with caplog.at_level(logging.CRITICAL), pytest.raises(SystemExit) as stopped:
            server._serve_workers({}, config, None)
    assert stopped.value.code == 1 and forked == []
    assert f"cannot listen on 127.0.0.1:{port}" in caplog.text


def test_port_zero_keeps_one_shared_socket(served):
    config = RestConfig(port=0, host="127.0.0.1", disable_ssl=True, num_processes=2)
    server._serve_workers({}, config, None)
    (sock,) = served["sockets"]
    assert sock.getsockname()[1] != 0
    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 0
