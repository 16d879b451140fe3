"""``salt-ext-rest-demo`` end to end: start it, log in, ping the minion, Ctrl-C it.

Like the other integration tests, ``SALT_EXT_REST_NETAPI_MODULE=rest_cherrypy`` (or
``rest_tornado``) runs it against Salt's own API module instead of ``rest_ext``; that
checks the demo's process handling on its own.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import psutil
import pytest
import requests

pytestmark = pytest.mark.integration

DEMO = Path(sys.executable).with_name("salt-ext-rest-demo")
MODULE = os.environ.get("SALT_EXT_REST_NETAPI_MODULE", "rest_ext").strip()
START_TIMEOUT = 150
STOP_TIMEOUT = 60


def _read_json_line(proc: subprocess.Popen, timeout: float) -> dict:
    """The demo's one stdout line, read in a thread so a hung demo cannot hang the test."""
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(proc.stdout.readline()), daemon=True).start()
    try:
        line = lines.get(timeout=timeout)
    except queue.Empty:
        pytest.fail(f"salt-ext-rest-demo printed nothing within {timeout}s")
    if not line:
        pytest.fail(f"salt-ext-rest-demo exited ({proc.wait()}) without printing its JSON line")
    return json.loads(line)


def _started_by(proc: subprocess.Popen) -> list[psutil.Process]:
    return psutil.Process(proc.pid).children(recursive=True)


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _describe(proc: psutil.Process) -> str:
    try:
        return f"{proc.pid}: {' '.join(proc.cmdline())}"
    except psutil.Error:
        return str(proc.pid)


def _leftovers(known: list[psutil.Process], pgids: set[int], tmpdir: str) -> list[str]:
    """Live processes the demo started: known pids, its process groups, its temp dir."""
    candidates = list(known)
    for proc in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.Error, ProcessLookupError):
            if os.getpgid(proc.pid) in pgids or tmpdir in " ".join(proc.info["cmdline"] or []):
                candidates.append(proc)
    return sorted({_describe(proc) for proc in candidates if _alive(proc)})


@pytest.fixture
def demo():
    cmd = [str(DEMO), "--json", "--timeout", "120", "--module", MODULE]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:  # the test failed half-way: do not leave a master behind
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                for child in _started_by(proc):
                    with contextlib.suppress(psutil.Error):
                        child.kill()
                proc.kill()
                proc.wait()


def test_demo_serves_the_api_and_stops_cleanly(demo):
    info = _read_json_line(demo, START_TIMEOUT)
    assert info["username"] == "demo"
    assert info["eauth"] == "sharedsecret"
    assert info["url"].startswith("http://127.0.0.1:")
    assert Path(info["tmpdir"]).is_dir()
    known = _started_by(demo)
    pgids = set(info["pids"].values())
    assert pgids, "the demo reported no daemon pids"

    http = requests.Session()
    http.trust_env = False  # loopback: never through an http_proxy from the environment
    login = http.post(
        info["url"] + "/login",
        json={k: info[k] for k in ("username", "password", "eauth")},
        headers={"Accept": "application/json"},
        timeout=30,
    )
    assert login.status_code == 200, login.text
    token = login.json()["return"][0]["token"]
    assert token

    ping = http.post(
        info["url"] + "/",
        json=[{"client": "local", "tgt": "*", "fun": "test.ping"}],
        headers={"Accept": "application/json", "X-Auth-Token": token},
        timeout=60,
    )
    assert ping.status_code == 200, ping.text
    assert ping.json() == {"return": [{"demo-minion": True}]}

    demo.send_signal(signal.SIGINT)
    assert demo.wait(STOP_TIMEOUT) == 0
    assert not Path(info["tmpdir"]).exists()
    assert _leftovers(known, pgids, info["tmpdir"]) == []
