import asyncio
import time

import pytest

from salt_ext_rest.backend.token_cache import TokenCache


class Store:
    def __init__(self):
        self.reads = 0
        self.gate = asyncio.Event()
        self.tokens = {"t": {"token": "t", "expire": time.time() + 60}}

    async def fetch(self, token):
        self.reads += 1
        await self.gate.wait()
        if token == "boom":
            raise RuntimeError("store down")
        return dict(self.tokens.get(token, {}))


def run(coro):
    return asyncio.run(coro)


def test_concurrent_misses_share_one_read_then_the_cache_answers():
    async def scenario():
        store = Store()
        cache = TokenCache(store.fetch, ttl=60)
        waiters = [asyncio.ensure_future(cache.get("t")) for _ in range(500)]
        await asyncio.sleep(0)
        store.gate.set()
        results = await asyncio.gather(*waiters)
        assert all(r["token"] == "t" for r in results)
        assert store.reads == 1
        assert (await cache.get("t"))["token"] == "t" and store.reads == 1

    run(scenario())


def test_unknown_tokens_and_zero_ttl_are_not_remembered():
    async def scenario():
        store = Store()
        store.gate.set()
        cache = TokenCache(store.fetch, ttl=60)
        assert await cache.get("nope") == {} and await cache.get("nope") == {}
        assert store.reads == 2
        uncached = TokenCache(store.fetch, ttl=0)
        await uncached.get("t")
        await uncached.get("t")
        assert store.reads == 4

    run(scenario())


def test_expired_token_data_is_read_again():
    async def scenario():
        store = Store()
        store.gate.set()
        cache = TokenCache(store.fetch, ttl=60)
        cache.remember("t", {"token": "t", "expire": time.time() - 1})
        assert (await cache.get("t"))["expire"] > time.time()
        assert store.reads == 1

    run(scenario())


def test_forget_during_a_read_keeps_the_result_out_of_the_cache():
    async def scenario():
        store = Store()
        cache = TokenCache(store.fetch, ttl=60)
        pending = asyncio.ensure_future(cache.get("t"))
        await asyncio.sleep(0)
        cache.forget("t")  # revoked while the read is in flight
        store.gate.set()
        await pending
        await cache.get("t")
        assert store.reads == 2

    run(scenario())


def test_a_cancelled_caller_does_not_cancel_the_shared_read_and_errors_reach_all():
    async def scenario():
        store = Store()
        cache = TokenCache(store.fetch, ttl=60)
        first, second = (asyncio.ensure_future(cache.get("t")) for _ in range(2))
        await asyncio.sleep(0)
        first.cancel()
        store.gate.set()
        assert (await second)["token"] == "t"
        failing = [asyncio.ensure_future(cache.get("boom")) for _ in range(2)]
        for task in failing:
            with pytest.raises(RuntimeError):
                await task
        assert store.reads == 2

    run(scenario())
