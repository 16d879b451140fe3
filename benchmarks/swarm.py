"""A swarm of simulated minions in one process, built from Salt's own minion-side classes.

``python swarm.py MINION_CONF COUNT PREFIX``

Each simulated minion has its own id and its own ``salt.crypt.AsyncAuth`` (it signs in
to the master, which auto-accepts its key, and gets the AES key), its own
``AsyncPubChannel`` (a ZeroMQ SUB socket on the master's publisher that decrypts each
publish) and its own ``AsyncReqChannel`` (returns go back encrypted, with the minion's
token, as ``_return`` requests). It answers ``test.ping`` (``True``) and
``saltutil.find_job`` (``{}``) for publishes whose target matches its id (glob or list),
like ``Minion._target_load`` does; nothing runs in a subprocess or thread.

Simplifications: all minions share one RSA key pair (generated once: 500 key pairs would
take a minute), and one ZeroMQ context (Salt opens one per channel, i.e. 1000 contexts
with their I/O threads); every minion still authenticates on its own. Progress and
counters are printed as JSON lines: start-up on stdout, then counters on stderr.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import os
import sys
import time

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
import salt.minion  # noqa: E402

STATS = {"publishes": 0, "matched": 0, "returns": 0, "errors": 0}


def targeted(minion_id: str, load: dict) -> bool:
    tgt, tgt_type = load.get("tgt"), load.get("tgt_type", "glob")
    if tgt_type == "glob":
        return isinstance(tgt, str) and fnmatch.fnmatch(minion_id, tgt)
    if tgt_type == "list":
        names = tgt.split(",") if isinstance(tgt, str) else tgt or []
        return minion_id in names
    return False


class SimMinion:
    def __init__(self, opts: dict) -> None:
        self.opts = opts
        self.id = opts["id"]
        self.pub = None
        self.req = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.pub = salt.channel.client.AsyncPubChannel.factory(self.opts, io_loop=loop)
        await self.pub.connect()  # signs in (AsyncAuth), then connects the SUB socket
        self.req = salt.channel.client.AsyncReqChannel.factory(self.opts, io_loop=loop)
        self.pub.on_recv(self.on_publish)

    async def on_publish(self, payload: dict) -> None:
        STATS["publishes"] += 1
        load = payload.get("load")
        if not isinstance(load, dict) or not {"tgt", "jid", "fun", "arg"} <= load.keys():
            return
        if not targeted(self.id, load):
            return
        STATS["matched"] += 1
        asyncio.get_running_loop().create_task(self.answer(load))

    async def answer(self, load: dict) -> None:
        fun = load["fun"]
        if fun == "test.ping":
            ret, ok = True, True
        elif fun == "saltutil.find_job":
            ret, ok = {}, True
        else:
            ret, ok = f"'{fun}' is not available in the benchmark swarm.", False
        reply = {
            "cmd": "_return",
            "id": self.id,
            "jid": load["jid"],
            "fun": fun,
            "fun_args": load["arg"],
            "return": ret,
            "retcode": 0 if ok else 1,
            "success": ok,
        }
        try:
            await self.req.send(reply, timeout=60)  # type: ignore[union-attr]
            STATS["returns"] += 1
        except Exception as exc:
            STATS["errors"] += 1
            print(
                json.dumps({"error": repr(exc)[:200], "id": self.id}), file=sys.stderr, flush=True
            )


async def main(conf: str, count: int, prefix: str) -> None:
    base = salt.config.minion_config(conf)
    base.update(salt.minion.resolve_dns(base))
    # no per-minion socket monitors; no "salt/auth/creds" events to a minion bus that
    # does not exist (a real minion's other processes listen there)
    base.update(zmq_monitor=False, auth_events=False)
    for key in ("pki_dir", "cachedir", "sock_dir"):
        os.makedirs(base[key], mode=0o700, exist_ok=True)
    minions = [SimMinion(dict(base, id=f"{prefix}{i:04d}")) for i in range(count)]
    start = time.monotonic()
    await minions[0].start()  # generates the shared key pair
    gate = asyncio.Semaphore(16)

    async def start_one(minion: SimMinion) -> None:
        async with gate:
            await minion.start()

    done = 1
    for chunk in range(1, count, 50):
        await asyncio.gather(*(start_one(m) for m in minions[chunk : chunk + 50]))
        done = min(count, chunk + 50)
        print(
            json.dumps({"started": done, "elapsed": round(time.monotonic() - start, 1)}), flush=True
        )
    print(json.dumps({"ready": done, "elapsed": round(time.monotonic() - start, 1)}), flush=True)
    while True:
        await asyncio.sleep(10)
        print(json.dumps(STATS), file=sys.stderr, flush=True)  # stdout: start-up only


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
