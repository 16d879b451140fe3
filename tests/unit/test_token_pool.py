"""Token reads run on a small pool of their own, every thread of it ready (its Salt
LoadAuth built: 20-90 ms of CPU) before the first request: a token read never builds
one on whichever thread of the salt pool it lands on."""

import asyncio
import copy
import threading
import time

import salt.config

from salt_ext_rest.backend import gateway as gateway_module
from salt_ext_rest.backend import token_reader
from salt_ext_rest.backend.gateway import SaltGateway


class FakeAuth:
    """LoadAuth's part a token read uses: its token store (a cache) and get_tok."""

    opts: dict = {}

    def __init__(self, built):
        built.append(threading.get_ident())
        self.cache = self
        self.fetched = []

    def fetch(self, bank, key):
        self.fetched.append((bank, threading.get_ident()))
        return {}

    def get_tok(self, token):
        return {"token": token, "expire": time.time() + 60, "name": "u", "eauth": "auto"}


def test_token_reads_use_one_thread_whose_loadauth_is_built_at_start(tmp_path, monkeypatch):
    built, auths = [], []
    monkeypatch.setattr(
        gateway_module, "_loadauth", lambda opts: auths.append(FakeAuth(built)) or auths[-1]
    )
    opts = copy.deepcopy(salt.config.DEFAULT_MASTER_OPTS)
    opts.update(cachedir=str(tmp_path), sock_dir=str(tmp_path))
    gateway = SaltGateway(opts, token_cache_ttl=0)

    async def scenario():
        await gateway.token_reader.warm()
        assert len(set(built)) == len(built) == token_reader.TOKEN_THREADS
        assert all(
            auth.fetched == [("tokens", tid)] for auth, tid in zip(auths, built, strict=True)
        )
        # other work started several threads of the salt pool meanwhile
        await asyncio.gather(*(gateway.call(time.sleep, 0.05) for _ in range(8)))
        for n in range(20):
            assert (await gateway.get_token(f"t{n}"))["token"] == f"t{n}"

    try:
        asyncio.run(scenario())
    finally:
        gateway.shutdown()
    assert len(built) == token_reader.TOKEN_THREADS, "a token read built another LoadAuth"
    assert gateway.pool_stats()["token"]["threads"] == token_reader.TOKEN_THREADS
