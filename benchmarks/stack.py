"""A private salt-master, two real minions and three salt-api processes on 127.0.0.1.

Everything lives in a temporary directory and runs as the current user. Each salt-api
reads its own copy of the master's configuration (``conf/api-<module>/master``) that
holds only its netapi block and its own ``api_pidfile``/``api_logfile``; every other key
is the master's, so all three talk to the same master. Authentication is Salt's ``auto``
eauth backend for the user ``bench`` (no system users).
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from salt_ext_rest.lowstate.validation import NON_SSH_CLIENTS
from salt_ext_rest.processes import stop_groups

HOST = "127.0.0.1"
USER = "bench"
EAUTH = "auto"
MODULES = ("rest_ext", "rest_cherrypy", "rest_tornado")
MINIONS = ("bench-minion-1", "bench-minion-2")
CLIENTS = list(NON_SSH_CLIENTS)
BIN = Path(sys.executable).parent
HERE = Path(__file__).resolve().parent


class StackError(Exception):
    """A daemon did not start or died; the message carries its log tail."""


def free_ports(count: int) -> list[int]:
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind((HOST, 0))
        return [sock.getsockname()[1] for sock in socks]


def netapi_block(module: str, port: int) -> dict:
    if module == "rest_cherrypy":
        return {"port": port, "host": HOST, "disable_ssl": True}
    if module == "rest_tornado":
        return {"port": port, "address": HOST, "disable_ssl": True, "websockets": True}
    # Fan-out workloads open thousands of streams with one token.
    return {
        "port": port,
        "host": HOST,
        "disable_ssl": True,
        "websockets": True,
        "max_streams_per_token": 100_000,
    }


class Stack:
    """Owns the temporary directory and every daemon started in it."""

    def __init__(self, keep: bool = False) -> None:
        self.keep = keep
        self.tmp = Path(tempfile.mkdtemp(prefix="salt-ext-rest-bench-"))
        ports = free_ports(3 + len(MODULES))
        self.publish_port, self.ret_port, self.bare_port = ports[:3]
        self.api_ports = dict(zip(MODULES, ports[3:], strict=True))
        self.procs: dict[str, subprocess.Popen] = {}
        self.master_conf = self.tmp / "conf" / "master"
        self.master_opts: dict = {}

    # -- configuration ------------------------------------------------------------
    def under(self, *parts: str) -> str:
        return str(self.tmp.joinpath(*parts))

    def common(self, role: str) -> dict:
        return {
            "root_dir": self.under(),
            "user": pwd.getpwuid(os.getuid()).pw_name,
            "pki_dir": self.under("pki", role),
            "cachedir": self.under("cache", role),
            "sock_dir": self.under("run", role),
            "pidfile": self.under("run", f"{role}.pid"),
            "log_file": self.under("logs", f"{role}.log"),
            "publish_port": self.publish_port,
            "file_roots": {"base": [self.under("srv", "salt")]},
            "pillar_roots": {"base": [self.under("srv", "pillar")]},
        }

    def master_config(self) -> dict:
        conf = self.common("master")
        conf.update(
            {
                "interface": HOST,
                "ret_port": self.ret_port,
                "auto_accept": True,
                "key_logfile": self.under("logs", "key.log"),
                "netapi_enable_clients": CLIENTS,
                "external_auth": {EAUTH: {USER: [".*", "@runner", "@wheel", "@jobs"]}},
            }
        )
        return conf

    def minion_config(self, minion_id: str) -> dict:
        conf = self.common(minion_id)
        conf.update(
            {
                "id": minion_id,
                "master": HOST,
                "master_port": self.ret_port,
                "enable_fqdns_grains": False,
                "acceptance_wait_time": 1,
                # jobs in threads: the minion is not what we measure, keep it fast
                "multiprocessing": False,
            }
        )
        return conf

    def write(self, path: Path, conf: dict) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(conf, indent=1) + "\n")  # JSON is YAML

    def write_configs(self) -> None:
        for sub in ("logs", "run", "srv/salt", "srv/pillar"):
            (self.tmp / sub).mkdir(parents=True, exist_ok=True)
        master = self.master_config()
        self.write(self.master_conf, master)
        for minion_id in MINIONS:
            self.write(self.conf_dir(minion_id) / "minion", self.minion_config(minion_id))
        self.write(self.conf_dir("swarm") / "minion", self.minion_config("swarm"))
        for module in MODULES:
            api = dict(master, **{module: netapi_block(module, self.api_ports[module])})
            api["api_pidfile"] = self.under("run", f"api-{module}.pid")
            api["api_logfile"] = self.under("logs", f"api-{module}.log")
            self.write(self.conf_dir(f"api-{module}") / "master", api)
        import salt.config

        self.master_opts = salt.config.client_config(str(self.master_conf))

    def conf_dir(self, name: str) -> Path:
        return self.tmp / "conf" / name if name != "master" else self.tmp / "conf"

    # -- processes ---------------------------------------------------------------
    def start(self, name: str, argv: list[str], **kwargs) -> subprocess.Popen:
        out = open(self.tmp / "logs" / f"{name}.out", "wb")  # noqa: SIM115 (kept open)
        kwargs.setdefault("stdout", out)
        proc = subprocess.Popen(
            argv,
            stdin=kwargs.pop("stdin", subprocess.DEVNULL),
            stderr=out,
            start_new_session=True,
            **kwargs,
        )
        self.procs[name] = proc
        return proc

    def start_salt(self) -> None:
        self.start("master", [str(BIN / "salt-master"), "-c", str(self.conf_dir("master"))])
        for minion_id in MINIONS:
            self.start(minion_id, [str(BIN / "salt-minion"), "-c", str(self.conf_dir(minion_id))])
        for module in MODULES:
            self.start(module, [str(BIN / "salt-api"), "-c", str(self.conf_dir(f"api-{module}"))])

    def start_swarm(self, name: str, count: int, prefix: str, timeout: float) -> int:
        """Start ``swarm.py`` with ``count`` simulated minions; their number once ready."""
        conf = str(self.conf_dir("swarm") / "minion")
        argv = [sys.executable, str(HERE / "swarm.py"), conf, str(count), prefix]
        argv += ["--accept", self.under("pki", "master")]  # keys accepted before sign-in
        proc = self.start(name, argv, stdout=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = proc.stdout.readline()  # type: ignore[union-attr]
            if not line:
                break
            info = json.loads(line)
            if "ready" in info:
                return info["ready"]
        self.stop([name])
        raise StackError(f"{name}: {count} simulated minions did not start\n{self.tail(name)}")

    def url(self, module: str) -> str:
        return f"http://{HOST}:{self.api_ports[module]}"

    def pid(self, name: str) -> int:
        return self.procs[name].pid

    def tail(self, name: str, lines: int = 30) -> str:
        found = []
        for path in sorted((self.tmp / "logs").glob(f"*{name}*")):
            if path.stat().st_size:
                body = path.read_text(errors="replace").splitlines()[-lines:]
                found.append(f"--- {path} ---\n" + "\n".join(body))
        return "\n".join(found) or f"({name} wrote no log)"

    def check_alive(self, names: tuple[str, ...] | None = None) -> None:
        for name, proc in self.procs.items():
            if (names is None or name in names) and proc.poll() is not None:
                raise StackError(f"{name} exited ({proc.returncode})\n{self.tail(name)}")

    def wait(self, what: str, check, timeout: float, names: tuple[str, ...] | None = None):
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive(names)
            result = check()
            if result:
                return result
            if time.monotonic() > deadline:
                raise StackError(f"{what}: not ready after {timeout:g}s\n{self.tail('master')}")
            time.sleep(0.3)

    def wait_ready(self, timeout: float = 120.0) -> None:
        self.wait("minions", self.minions_up, timeout)
        for module in MODULES:
            self.wait(module, lambda m=module: http_answers(self.url(m)), timeout)

    def minions_up(self) -> bool:
        if not all((self.tmp / "pki/master/minions" / m).exists() for m in MINIONS):
            return False
        import salt.client

        client = salt.client.LocalClient(mopts=self.master_opts)
        try:
            ret = client.cmd(list(MINIONS), "test.ping", tgt_type="list", timeout=10)
        finally:
            client.destroy()
        return all(ret.get(m) is True for m in MINIONS)

    # -- teardown ----------------------------------------------------------------
    def stop(self, names: list[str] | None = None, grace: float = 10.0) -> None:
        """SIGTERM the named daemons' process groups; SIGKILL what is left after ``grace``."""
        procs = [p for n, p in self.procs.items() if names is None or n in names]
        stop_groups(procs, grace)
        for name in [n for n, p in self.procs.items() if p in procs]:
            del self.procs[name]

    def close(self) -> None:
        # Clients first (APIs, minions, helpers), the master last.
        self.stop([n for n in self.procs if n != "master"])
        self.stop()
        if not self.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)


def http_answers(url: str, timeout: float = 3.0) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url + "/", timeout=timeout):
            return True
    except urllib.request.HTTPError:
        return True
    except OSError:
        return False
