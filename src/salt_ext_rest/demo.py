"""``salt-ext-rest-demo``: a private salt-master, salt-minion and salt-api on 127.0.0.1.

Everything runs as the current user from a temporary directory. Once the minion and the
API (``rest_ext``; the hidden ``--module`` picks another netapi module) answer, it prints
how to log in; Ctrl-C, SIGTERM or ``--timeout`` stop every process and remove the directory.
"""

import argparse
import contextlib
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from salt_ext_rest.lowstate.validation import NON_SSH_CLIENTS
from salt_ext_rest.processes import stop_groups

MINION_ID = "demo-minion"
USERNAME = "demo"
EAUTH = "sharedsecret"
HOST = "127.0.0.1"
CLIENTS = list(NON_SSH_CLIENTS)
GRACE = 10.0
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)  # SIGHUP: terminal closed
BIN = Path(sys.executable).parent


class DemoError(Exception):
    """The demo could not start (or a daemon died); the message says why."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="salt-ext-rest-demo",
        description="Run a private Salt master, minion and API on 127.0.0.1 until Ctrl-C.",
    )
    parser.add_argument("--port", type=int, help="API port (default: 8000 if free, else any)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--timeout", type=float, metavar="N", help="stop after serving N seconds")
    parser.add_argument("--start-timeout", type=float, default=120.0, metavar="N",
                        help="give up if not ready after N seconds (default: 120)")  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print the connection info as JSON")
    parser.add_argument("--module", default="rest_ext", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def pick_ports(api_port: int | None) -> dict[str, int]:
    """Free loopback ports for the publisher, the request server and the API."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(3)]
        for sock, wanted in zip(socks, (0, 0, api_port or 8000), strict=True):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do
            try:
                sock.bind((HOST, wanted))
            except OSError as exc:
                if api_port:
                    raise DemoError(f"cannot listen on {HOST}:{api_port}: {exc.strerror}") from None
                sock.bind((HOST, 0))
        publish, ret, api = (sock.getsockname()[1] for sock in socks)
    return {"publish_port": publish, "ret_port": ret, "api_port": api}


def build_configs(tmp: Path, module: str, ports: dict[str, int], secret: str):
    """The master and minion configuration, every path under ``tmp``."""

    def under(*parts: str) -> str:
        return str(tmp.joinpath(*parts))

    common = {
        "root_dir": under(), "user": pwd.getpwuid(os.getuid()).pw_name,
        "file_roots": {"base": [under("srv", "salt")]},
        "pillar_roots": {"base": [under("srv", "pillar")]}, "log_level_logfile": "info",
    }  # fmt: skip
    roles: dict[str, dict] = {"master": {}, "minion": {}}
    for role, values in roles.items():
        values.update(common, pki_dir=under("pki", role), cachedir=under("cache", role))
        values.update(sock_dir=under("run", role), pidfile=under("run", f"salt-{role}.pid"))
        values.update(log_file=under("logs", f"{role}.log"), publish_port=ports["publish_port"])
    roles["master"].update({
        "interface": HOST, "ret_port": ports["ret_port"], "auto_accept": True,
        "key_logfile": under("logs", "key.log"), "api_logfile": under("logs", "api.log"),
        "api_pidfile": under("run", "salt-api.pid"),
        "netapi_enable_clients": CLIENTS, "sharedsecret": secret,
        "external_auth": {EAUTH: {USERNAME: [".*", "@runner", "@wheel", "@jobs"]}},
        module: {"port": ports["api_port"], "disable_ssl": True,
                 "address" if module == "rest_tornado" else "host": HOST},
    })  # fmt: skip
    roles["minion"].update({
        "id": MINION_ID, "master": HOST, "master_port": ports["ret_port"],
        "enable_fqdns_grains": False, "acceptance_wait_time": 1,
    })  # fmt: skip
    return roles


class Demo:
    """The temporary directory and the daemons started in it."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.ports = pick_ports(args.port)  # before mkdtemp: this may raise
        self.tmp = Path(tempfile.mkdtemp(prefix="salt-ext-rest-demo-"))
        self.conf = self.tmp / "conf"
        self.procs: dict[str, subprocess.Popen] = {}
        self.secret = secrets.token_urlsafe(24)
        self.url = f"http://{HOST}:{self.ports['api_port']}"

    def write_configs(self) -> None:
        for sub in ("conf", "logs", "run", "srv/salt", "srv/pillar"):
            (self.tmp / sub).mkdir(parents=True, exist_ok=True)
        roles = build_configs(self.tmp, self.args.module, self.ports, self.secret)
        for name, values in roles.items():
            path = self.conf / name
            path.touch(mode=0o600)  # it holds the shared secret
            path.write_text(json.dumps(values, indent=2) + "\n")  # JSON is YAML

    def start(self, name: str) -> None:
        """Start ``salt-<name> -c <conf>`` in its own process group."""
        with open(self.tmp / "logs" / f"{name}.out", "wb") as out:
            self.procs[name] = subprocess.Popen(
                [str(BIN / f"salt-{name}"), "-c", str(self.conf)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip

    def tail(self, name: str, lines: int = 25) -> str:
        text = []
        for path in (self.tmp / "logs" / f"{name}.log", self.tmp / "logs" / f"{name}.out"):
            if path.exists() and path.stat().st_size:
                body = path.read_text(errors="replace").splitlines()[-lines:]
                text.append(f"--- last lines of {path} ---\n" + "\n".join(body))
        return "\n".join(text) or f"(salt-{name} wrote no log)"

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise DemoError(f"salt-{name} exited ({proc.returncode})\n{self.tail(name)}")

    def minion_up(self) -> bool:
        if not (self.tmp / "pki" / "master" / "minions" / MINION_ID).exists():
            return False  # the master has not accepted the minion's key yet
        cmd = [str(BIN / "salt-run"), "-c", str(self.conf), "--out=json", "manage.up", "timeout=5"]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
            return MINION_ID in json.loads(done.stdout or "[]")
        except (subprocess.TimeoutExpired, ValueError, TypeError):
            return False

    def api_up(self) -> bool:
        no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with no_proxy.open(self.url + "/", timeout=5):
                return True
        except urllib.request.HTTPError:
            return True  # an HTTP answer, whatever the status, means the API is up
        except OSError:
            return False

    def wait_ready(self) -> None:
        deadline = time.monotonic() + self.args.start_timeout
        pending = {"minion": self.minion_up, "api": self.api_up}
        while pending:
            self.check_alive()
            pending = {name: check for name, check in pending.items() if not check()}
            if pending and time.monotonic() > deadline:
                tails = "\n".join(self.tail(name) for name in (*pending, "master"))
                raise DemoError(f"not ready after {self.args.start_timeout:g}s, waiting for "
                                f"{' and '.join(pending)}\n{tails}")  # fmt: skip
            time.sleep(0.5 if pending else 0)

    def serve(self, timeout: float | None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while deadline is None or time.monotonic() < deadline:
            self.check_alive()
            time.sleep(0.5)

    def cleanup(self) -> None:
        # The minion and salt-api go first, so that the minion does not chase the master.
        for names in (("minion", "api"), ("master",)):
            stop_groups([proc for name, proc in self.procs.items() if name in names], GRACE)
        if not self.args.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)


def _say(message: str) -> None:
    print(f"salt-ext-rest-demo: {message}", file=sys.stderr, flush=True)


def print_info(demo: Demo, started: float) -> None:
    url, secret, ports = demo.url, demo.secret, demo.ports
    if demo.args.json:
        info = {"url": url, "host": HOST, "port": ports["api_port"], "username": USERNAME,
                "password": secret, "eauth": EAUTH, "minion_id": MINION_ID,
                "module": demo.args.module, "tmpdir": str(demo.tmp), "pid": os.getpid(),
                "pids": {name: proc.pid for name, proc in demo.procs.items()}}  # fmt: skip
        print(json.dumps(info), flush=True)
        return
    ping = json.dumps([{"client": "local", "tgt": "*", "fun": "test.ping"}])
    print(f"""
salt-ext-rest demo is ready: {demo.args.module} with minion '{MINION_ID}', \
started in {time.monotonic() - started:.1f}s

  URL       {url}
  username  {USERNAME}
  password  {secret}
  eauth     {EAUTH}

Log in (the answer's "token" is the X-Auth-Token for the next requests):
  curl -si {url}/login -H 'Accept: application/json' -d username={USERNAME} \
-d password={secret} -d eauth={EAUTH}

Run test.ping on every minion:
  TOKEN=<token from the login answer>
  curl -si {url}/ -H 'Accept: application/json' -H "X-Auth-Token: $TOKEN" \
-H 'Content-Type: application/json' -d '{ping}'

Config and logs: {demo.tmp} ({"kept" if demo.args.keep else "removed"} on exit)
Press Ctrl-C to stop.""", flush=True)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    for signum in STOP_SIGNALS:  # even if inherited as ignored (e.g. started with "&")
        signal.signal(signum, signal.default_int_handler)  # raises KeyboardInterrupt
    code, demo = 0, None
    try:
        demo = Demo(args)
        demo.write_configs()
        for name in ("master", "minion", "api"):
            demo.start(name)
        _say(f"started salt-master, salt-minion '{MINION_ID}' and salt-api ({args.module} "
             f"on {demo.url}); waiting until they answer")  # fmt: skip
        demo.wait_ready()
        print_info(demo, started)
        demo.serve(args.timeout)
    except DemoError as exc:
        _say(str(exc))
        code = 1
    except KeyboardInterrupt:
        pass
    finally:
        for signum in STOP_SIGNALS:  # a second Ctrl-C must not cut the cleanup short
            signal.signal(signum, signal.SIG_IGN)
        if demo is not None:
            _say("stopping" + (f"; keeping {demo.tmp}" if args.keep else ""))
            demo.cleanup()
    return code


if __name__ == "__main__":
    sys.exit(main())
