"""A swarm of simulated minions in one process, built from Salt's own minion-side classes.

``python swarm.py MINION_CONF COUNT PREFIX [--accept MASTER_PKI_DIR] [--pool N] [--gate N]``

Each simulated minion has its own id and its own ``salt.crypt.AsyncAuth``: it signs in to
the master on its own (the master checks its key, answers with the AES key and the
minion's own session key) and sends its returns as ``_return`` requests through an
``AsyncReqChannel`` bound to its own auth (encrypted with its session key, with its token,
as a real minion's). It answers ``test.ping`` (``True``) and ``saltutil.find_job`` (``{}``)
for publishes whose target matches its id (glob or list), like ``Minion._target_load``
does; nothing runs in a subprocess or thread.

What the swarm shares, so that 5,000 minions fit in one process and its file descriptors
(a socket per minion and channel is ~5 descriptors per minion: 4,000 minions exhausted a
20,000 ``RLIMIT_NOFILE`` and stalled the sign-ins):

* one RSA key pair (generating 5,000 would take minutes);
* one ZeroMQ context (Salt opens one per channel, each with its I/O thread);
* one publish subscription: every publish is received and decrypted once and handed to
  every simulated minion it targets (the master's publisher sends it once, not once per
  minion; the API and the master's request side see exactly what 5,000 minions cause);
* ``--pool`` request sockets (default 32): each minion's request channel is its own
  (own auth, own session key) but a return is sent on whichever of these ZeroMQ
  sockets is free: as many returns in flight as the pool is large, the rest wait
  their turn in the swarm (a real minion's would wait in the master's queue).

``--accept MASTER_PKI_DIR`` pre-seeds every minion's public key in the master's
``minions/`` directory, as ``salt-key -a`` would leave it, so sign-ins go straight to
"accepted" (no auto-accept round trip, no ``acceptance_wait_time`` retries). Sign-ins
run ``--gate`` at a time (default 32). Progress and counters are printed as JSON lines:
start-up on stdout, then counters on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import fnmatch
import json
import os
import sys
import time
from pathlib import Path

import zmq
import zmq.asyncio


class _SharedContext(zmq.asyncio.Context):
    """One context for every channel; channels' close() must not destroy it."""

    def destroy(self, linger=None):
        return None

    def term(self):
        return None


_CONTEXT = _SharedContext()
_CONTEXT.set(zmq.MAX_SOCKETS, 65536)
zmq.asyncio.Context = lambda *a, **k: _CONTEXT  # type: ignore[assignment,misc]

import salt.channel.client  # noqa: E402 (after the context patch)
import salt.config  # noqa: E402
import salt.crypt  # noqa: E402
import salt.minion  # noqa: E402
import salt.transport  # noqa: E402

#: seconds a return may take at the master once sent (a real minion: 5-15 s, 3 tries)
RETURN_TIMEOUT = 120
STATS = {"publishes": 0, "matched": 0, "returns": 0, "errors": 0}


def targeted(ids: list[str], id_set: set[str], load: dict) -> list[str]:
    """The simulated minions a publish targets (glob and list targets only)."""
    tgt, tgt_type = load.get("tgt"), load.get("tgt_type", "glob")
    if tgt_type == "glob" and isinstance(tgt, str):
        return fnmatch.filter(ids, tgt)
    if tgt_type == "list":
        names = tgt.split(",") if isinstance(tgt, str) else tgt or []
        return [name for name in names if name in id_set]
    return []


def reply_for(minion_id: str, load: dict) -> dict:
    fun = load["fun"]
    if fun == "test.ping":
        ret, ok = True, True
    elif fun == "saltutil.find_job":
        ret, ok = {}, True
    else:
        ret, ok = f"'{fun}' is not available in the benchmark swarm.", False
    return {
        "cmd": "_return",
        "id": minion_id,
        "jid": load["jid"],
        "fun": fun,
        "fun_args": load["arg"],
        "return": ret,
        "retcode": 0 if ok else 1,
        "success": ok,
    }


class SimMinion:
    def __init__(self, opts: dict) -> None:
        self.opts = opts
        self.id = opts["id"]
        self.auth: salt.crypt.AsyncAuth | None = None
        self.req: salt.channel.client.AsyncReqChannel | None = None

    async def start(self, transport, key) -> None:
        loop = asyncio.get_running_loop()
        self.auth = salt.crypt.AsyncAuth(self.opts, io_loop=loop)
        self.auth._private_key = key  # the shared key, parsed once (~20 ms a parse)
        await self.auth.authenticate()  # _auth: this minion's AES and session keys
        self.req = salt.channel.client.AsyncReqChannel(
            self.opts, transport, self.auth, timeout=60, tries=3
        )

    async def answer(self, load: dict, free: asyncio.Queue) -> None:
        """Send the return on a free socket of the pool: a request's timeout then counts
        only its time at the master, not its wait behind the swarm's other returns (5,000
        returns queued on 32 sockets outlived a 60 s timeout while the master worked
        through them, and a timed-out socket did not recover)."""
        transport = await free.get()
        try:
            self.req.transport = transport  # type: ignore[union-attr]
            await self.req.send(reply_for(self.id, load), timeout=RETURN_TIMEOUT)  # type: ignore[union-attr]
            STATS["returns"] += 1
        except Exception as exc:
            STATS["errors"] += 1
            print(
                json.dumps({"error": repr(exc)[:200], "id": self.id}), file=sys.stderr, flush=True
            )
        finally:
            free.put_nowait(transport)


class Swarm:
    def __init__(self, base: dict, ids: list[str], pool: int) -> None:
        self.base = base
        self.ids = ids
        self.id_set = set(ids)
        self.minions = {mid: SimMinion(dict(base, id=mid)) for mid in ids}
        self.pool_size = pool
        self.pool: list = []
        self.free: asyncio.Queue = asyncio.Queue()
        self.pub = None
        self.tasks: set[asyncio.Task] = set()

    async def subscribe(self) -> None:
        """The one publish subscription (signs in as the first minion)."""
        loop = asyncio.get_running_loop()
        self.pub = salt.channel.client.AsyncPubChannel.factory(
            dict(self.base, id=self.ids[0]), io_loop=loop
        )
        await self.pub.connect()
        self.pub.on_recv(self.on_publish)
        self.pool = [
            salt.transport.request_client(dict(self.base, id=self.ids[0]), io_loop=loop)
            for _ in range(self.pool_size)
        ]
        for transport in self.pool:
            self.free.put_nowait(transport)

    async def on_publish(self, payload: dict) -> None:
        STATS["publishes"] += 1
        load = payload.get("load")
        if not isinstance(load, dict) or not {"tgt", "jid", "fun", "arg"} <= load.keys():
            return
        loop = asyncio.get_running_loop()
        for mid in targeted(self.ids, self.id_set, load):
            minion = self.minions[mid]
            if minion.req is None:
                continue  # not signed in yet: a minion that is down
            STATS["matched"] += 1
            task = loop.create_task(minion.answer(load, self.free))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def sign_in(self, gate: int) -> None:
        start = time.monotonic()
        lock = asyncio.Semaphore(gate)
        done = 0
        key = self.pub.auth.get_keys()  # type: ignore[union-attr]

        async def one(index: int, minion: SimMinion) -> None:
            nonlocal done
            async with lock:
                await minion.start(self.pool[index % len(self.pool)], key)
            done += 1
            if done % 250 == 0 or done == len(self.ids):
                elapsed = round(time.monotonic() - start, 1)
                print(json.dumps({"started": done, "elapsed": elapsed}), flush=True)

        await asyncio.gather(*(one(i, m) for i, m in enumerate(self.minions.values())))


def accept_keys(base: dict, ids: list[str], master_pki: str) -> None:
    """Generate the shared key pair; write it as every minion's accepted key."""
    pki = Path(base["pki_dir"])
    if not (pki / "minion.pem").exists():
        salt.crypt.write_keys(str(pki), "minion", base["keysize"])
    pub = (pki / "minion.pub").read_bytes()
    accepted = Path(master_pki) / "minions"
    accepted.mkdir(parents=True, exist_ok=True)
    for mid in ids:
        path = accepted / mid
        if not path.exists():
            path.write_bytes(pub)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("conf", help="the minion configuration file the swarm uses")
    parser.add_argument("count", type=int)
    parser.add_argument("prefix")
    parser.add_argument("--accept", metavar="MASTER_PKI_DIR", help="pre-seed accepted keys")
    parser.add_argument("--pool", type=int, default=32, help="request sockets")
    parser.add_argument("--gate", type=int, default=32, help="concurrent sign-ins")
    return parser.parse_args(argv)


async def main(args: argparse.Namespace) -> None:
    base = salt.config.minion_config(args.conf)
    base.update(salt.minion.resolve_dns(base))
    # no socket monitors; no "salt/auth/creds" events to a minion bus that does not
    # exist (a real minion's other processes listen there)
    base.update(zmq_monitor=False, auth_events=False)
    for key in ("pki_dir", "cachedir", "sock_dir"):
        os.makedirs(base[key], mode=0o700, exist_ok=True)
    ids = [f"{args.prefix}{i:04d}" for i in range(args.count)]
    start = time.monotonic()
    if args.accept:
        accept_keys(base, ids, args.accept)
    swarm = Swarm(base, ids, max(1, min(args.pool, len(ids))))
    await swarm.subscribe()
    await swarm.sign_in(args.gate)
    elapsed = round(time.monotonic() - start, 1)
    print(json.dumps({"ready": len(ids), "elapsed": elapsed}), flush=True)
    while True:
        await asyncio.sleep(10)
        print(json.dumps(STATS), file=sys.stderr, flush=True)  # stdout: start-up only


if __name__ == "__main__":
    asyncio.run(main(parse_args(sys.argv[1:])))
