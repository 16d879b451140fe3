"""Revocation notices (events/revocation.py) on a real EventBus, fed raw bus events.

The notice is a hint: it makes the worker forget the token and re-read the store;
streams end (1008) only when the store no longer holds the token.
"""

import asyncio
import logging
import time

import pytest
import salt.utils.event

from salt_ext_rest.auth.identity import Identity
from salt_ext_rest.backend.gateway import REVOKED_TAG, SaltGateway
from salt_ext_rest.backend.token_cache import TokenCache, digest
from salt_ext_rest.events.bus import INTERNAL_PREFIX, EventBus
from salt_ext_rest.events.revocation import RevocationWatch
from salt_ext_rest.events.subscription import StreamClosed


class Gateway:
    """The two things the watch uses: a real TokenCache over a dict store, get_token."""

    def __init__(self, *tokens):
        self.store = {t: {"token": t, "expire": time.time() + 60} for t in tokens}
        self.reads = []
        self.token_cache = TokenCache(self._read, ttl=60)

    async def _read(self, token):
        self.reads.append(token)
        return dict(self.store.get(token, {}))

    async def get_token(self, token):
        return await self.token_cache.get(token)


def identity(token):
    return Identity(name="u", eauth="auto", token=token, expire=time.time() + 60)


def notice(data, tag=REVOKED_TAG):
    return salt.utils.event.SaltEvent.pack(tag, data)


async def settle():
    for _ in range(5):
        await asyncio.sleep(0)


def watched(*tokens):
    gateway, bus = Gateway(*tokens), EventBus({})
    RevocationWatch(gateway, bus).install()
    return gateway, bus


def test_the_tag_is_an_internal_one():
    assert REVOKED_TAG == INTERNAL_PREFIX + "revoked"


def test_a_notice_for_a_deleted_token_forgets_it_and_closes_only_its_streams():
    async def scenario():
        gone, kept = "a" * 64, "b" * 64
        gateway, bus = watched(gone, kept)
        for token in (gone, kept):
            assert await gateway.get_token(token)  # cached now
        mine = [bus.subscribe(identity(gone), lambda e: True) for _ in range(2)]
        other = bus.subscribe(identity(kept), lambda e: True)
        anonymous = bus.subscribe(None, lambda e: True)
        del gateway.store[gone]  # what revoke_token does before it fires the notice
        assert await gateway.get_token(gone)  # still cached: the notice is what ends it
        bus._publish_raw(notice({"digest": digest(gone)}))
        await settle()
        assert await gateway.get_token(gone) == {}
        for sub in mine:
            with pytest.raises(StreamClosed) as closed:
                await sub.next(0)
            assert closed.value.code == 1008 and "revoked" in closed.value.reason
        assert other.closed is None and anonymous.closed is None
        assert bus.received == 0  # never offered to a stream as an event
        assert gateway.reads.count(kept) == 1  # other tokens stay cached

    asyncio.run(scenario())


def test_a_forged_notice_for_a_live_token_ends_nothing(caplog):
    async def scenario():
        live = "c" * 64
        gateway, bus = watched(live)
        await gateway.get_token(live)
        sub = bus.subscribe(identity(live), lambda e: True)
        with caplog.at_level(logging.WARNING, "salt_ext_rest.events.revocation"):
            bus._publish_raw(notice({"digest": digest(live), "__peer_id": "m2"}))
            await settle()
        assert sub.closed is None
        assert gateway.reads == [live, live]  # the store was read again, and still has it
        assert await gateway.get_token(live)
        assert "store holds" in caplog.text
        assert live not in caplog.text  # the token itself is never logged

    asyncio.run(scenario())


@pytest.mark.parametrize(
    "data", [{}, {"digest": 5}, {"digest": "d" * 63}, {"digest": "D" * 64}, {"token": "e" * 64}]
)
def test_malformed_notices_are_ignored(data):
    async def scenario():
        token = "e" * 64
        gateway, bus = watched(token)
        await gateway.get_token(token)
        sub = bus.subscribe(identity(token), lambda e: True)
        bus._publish_raw(notice(data))
        await settle()
        assert sub.closed is None and gateway.reads == [token]

    asyncio.run(scenario())


def test_a_bus_reconnect_forgets_every_cached_token():
    async def scenario():
        tokens = ["f" * 64, "0" * 64]
        gateway, bus = watched(*tokens)
        for token in tokens:
            await gateway.get_token(token)
        bus._ever_connected = True  # a reconnect, not the first connect
        await bus._on_connect(True)
        for token in tokens:
            await gateway.get_token(token)
        assert gateway.reads == tokens * 2

    asyncio.run(scenario())


def test_forget_digest_and_clear_also_drop_reads_in_flight():
    async def scenario():
        gate = asyncio.Event()

        async def slow(token):
            await gate.wait()
            return {"token": token, "expire": time.time() + 60}

        cache = TokenCache(slow, ttl=60)
        pending = [asyncio.ensure_future(cache.get(t)) for t in ("1" * 64, "2" * 64)]
        await asyncio.sleep(0)
        assert cache.forget_digest(digest("1" * 64)) == "1" * 64
        assert cache.forget_digest(digest("unknown")) is None
        cache.clear()
        gate.set()
        await asyncio.gather(*pending)
        assert cache._data == {} and cache._digests == {}

    asyncio.run(scenario())


class Firer:
    def __init__(self, result=True, delay=0.0):
        self.result, self.delay, self.fired = result, delay, []
        self.store = None

    async def fire(self, data, tag):
        self.fired.append((tag, data, sorted(self.store)))
        await asyncio.sleep(self.delay)
        return self.result

    def close(self):
        pass


class LoadAuth:
    def __init__(self, *tokens):
        self.tokens = set(tokens)

    def rm_token(self, token):
        self.tokens.discard(token)


@pytest.mark.parametrize(("firer", "sent"), [(Firer(), True), (Firer(False), False),
                                              (Firer(delay=5), False)])  # fmt: skip
def test_revoke_token_fires_the_digest_only_and_waits_half_a_second_at_most(firer, sent, caplog):
    async def scenario():
        gateway = SaltGateway({}, threads=1, auth_threads=1)
        gateway.firer.close()
        gateway.firer = firer
        token = "9" * 64
        loadauth = LoadAuth(token, "8" * 64)
        gateway.loadauth = lambda: loadauth
        firer.store = loadauth.tokens
        started = time.monotonic()
        with caplog.at_level(logging.WARNING, "salt_ext_rest.backend.gateway"):
            await gateway.revoke_token(token)
        took = time.monotonic() - started
        gateway.shutdown()
        return took

    took = asyncio.run(scenario())
    # fired once the token was deleted, naming it by its digest only
    assert firer.fired == [(REVOKED_TAG, {"digest": digest("9" * 64)}, ["8" * 64])]
    assert took < 0.7
    assert ("revocation notice" in caplog.text) is not sent
