"""Runner/wheel ACL checks on the loop (backend/loop_acl.py): when no argument can change
Salt's verdict, the name alone decides exactly as Salt's spec_check with any arguments;
the ACL is remembered only beside a live token cache entry and dies with it."""

import asyncio
import itertools
import time

import pytest
import salt.utils.minions

from salt_ext_rest.auth.identity import Identity
from salt_ext_rest.backend import acl
from salt_ext_rest.backend.loop_acl import LoopAcl
from salt_ext_rest.backend.token_cache import TokenCache, digest

CK = salt.utils.minions.CkMinions
RESTRICTED = {"@runner": [{"test.arg": {"args": ["a"]}}]}


@pytest.mark.parametrize(
    ("auth_list", "expected"),
    [
        ([".*", "@runner", "@wheel", "@jobs"], False),
        (["@runner"], False),
        ([{"@runner": ["test.*", "jobs.list_jobs"]}], False),
        ([{"@wheel": "key.list_all"}], False),
        ([{"*": ["test.*", {"cmd.run": {"args": ["ls"]}}]}, "@runner"], False),  # a target
        ([{"@test": ["arg"]}], False),
        ([RESTRICTED], True),
        ([{"@wheel": ["key.list_all", {"key.accept": {"args": ["web.*"]}}]}], True),
        ([{"@test": {"arg": {"kwargs": {"k": "v"}}}}], True),
        ([{1: ["x"]}], True),  # not Salt's shape: the exact check decides
        ([], False),
    ],
)
def test_arguments_matter(auth_list, expected):
    assert acl.arguments_matter(auth_list) is expected


def _ckminions():
    # spec_check needs none of what CkMinions.__init__ builds (cache, keys)
    return CK.__new__(CK)


ACLS = [
    [".*", "@runner", "@wheel"],
    ["@runner"],
    ["@runners"],
    ["@wheel"],
    [{"@runner": ["test.*"]}],
    [{"@runner": "jobs.list_jobs"}],
    [{"@wheel": ["key.list_.*"]}],
    [{"@test": ["arg", "ping"]}],
    ["@test"],
    [{"web*": ["test.*"]}],
    [".*"],
    [],
]
FUNS = ["test.arg", "test.ping", "jobs.list_jobs", "key.list_all", "key.accept", "bad", "a.b.c"]
ARGS = [{"arg": [], "kwarg": {}}, {"arg": ["a", 1], "kwarg": {"k": "v"}}, {}]


@pytest.mark.parametrize("form", ["runner", "wheel"])
def test_name_alone_decides_as_salt_does_with_any_arguments(form):
    ck = _ckminions()
    for auth_list, fun, args in itertools.product(ACLS, FUNS, ARGS):
        assert not acl.arguments_matter(auth_list)
        salt_says = ck.spec_check(auth_list, fun, args, form)
        expected = bool(salt_says) and not (isinstance(salt_says, dict) and "error" in salt_says)
        assert acl.name_allowed(ck, auth_list, fun, form) is expected, (auth_list, fun, args)


# -- the ACL beside the token cache entry ------------------------------------------------
KEY = ("alice", "auto", (), 0.0, 0.0)


def _cache(ttl=60.0, maxsize=10000):
    async def fetch(token):
        return {"token": token, "expire": time.time() + 600}

    return TokenCache(fetch, ttl, maxsize)


def _cached(cache, token="t"):
    cache.remember(token, {"token": token, "expire": time.time() + 600})
    cache.remember_acl(token, cache.entry(token), KEY, ["@runner"])


def test_acl_lives_with_the_token_entry_only():
    cache = _cache()
    assert cache.entry("t") is None
    cache.remember_acl("t", cache.entry("t"), KEY, ["@runner"])
    assert cache.acl("t", KEY) is None  # no cached token: nothing kept
    _cached(cache)
    assert cache.acl("t", KEY) == ["@runner"]
    assert cache.acl("t", ("bob", "auto", (), 0.0, 0.0)) is None  # computed for another
    cache.forget("t")
    assert cache.acl("t", KEY) is None
    _cached(cache)
    cache.forget_digest(digest("t"))
    assert cache.acl("t", KEY) is None
    _cached(cache)
    cache.clear()
    assert cache.acl("t", KEY) is None


def test_acl_dies_when_the_entry_is_refreshed_expires_or_the_cache_is_full():
    cache = _cache()
    _cached(cache)
    cache.remember("t", {"token": "t", "expire": time.time() + 600})  # a fresh read
    assert cache.acl("t", KEY) is None
    expired = _cache(ttl=0.01)
    _cached(expired)
    time.sleep(0.02)
    assert expired.acl("t", KEY) is None
    full = _cache(maxsize=2)
    _cached(full, "a")
    _cached(full, "b")
    _cached(full, "c")  # the cache was full: cleared, then "c" kept
    assert full.acl("a", KEY) is None and full.acl("c", KEY) == ["@runner"]
    assert len(full._acls) <= 2
    off = _cache(ttl=0)
    _cached(off)
    assert off.acl("t", KEY) is None  # token_cache_ttl 0: nothing is remembered


def test_an_acl_computed_across_a_revocation_is_not_kept():
    cache = _cache()
    cache.remember("t", {"token": "t", "expire": time.time() + 600})
    entry = cache.entry("t")
    cache.forget("t")  # revoked while the ACL was computed
    cache.remember_acl("t", entry, KEY, ["@runner"])
    assert cache.acl("t", KEY) is None
    cache.remember("t", {"token": "t", "expire": time.time() + 600})  # read again since
    cache.remember_acl("t", entry, KEY, ["@runner"])
    assert cache.acl("t", KEY) is None


class FakeGateway:
    def __init__(self, auth_list):
        self.opts = {}
        self.token_cache = _cache()
        self.lists = 0
        self.exact = []
        self._auth_list = auth_list

    async def auth_list(self, identity):
        self.lists += 1
        return list(self._auth_list)

    async def call(self, func, *args):
        if func is acl.call_allowed:
            self.exact.append(args[2])
            return True
        return func(*args)


def _identity():
    return Identity(name="alice", eauth="auto", token="t")


def test_loop_acl_reads_the_acl_once_per_cached_token_and_decides_on_the_loop(monkeypatch):
    monkeypatch.setattr(salt.utils.minions, "CkMinions", lambda opts: _ckminions())
    gateway = FakeGateway(["@runner"])
    gateway.token_cache.remember("t", {"token": "t", "expire": time.time() + 600})
    loop_acl = LoopAcl(gateway)

    async def scenario():
        chunk = {"client": "runner", "fun": "test.arg", "arg": ["a"]}
        assert await loop_acl.allowed(_identity(), chunk, "runner") is True
        assert await loop_acl.allowed(_identity(), chunk, "runner") is True
        assert (
            await loop_acl.allowed(_identity(), {**chunk, "fun": "key.list_all"}, "wheel") is False
        )
        assert gateway.lists == 1 and gateway.exact == []
        gateway.token_cache.forget("t")  # logout: the ACL is read again
        assert await loop_acl.allowed(_identity(), chunk, "runner") is True
        assert gateway.lists == 2

    asyncio.run(scenario())


def test_loop_acl_leaves_argument_restrictions_to_the_exact_check():
    gateway = FakeGateway([RESTRICTED])
    gateway.token_cache.remember("t", {"token": "t", "expire": time.time() + 600})
    chunk = {"client": "runner", "fun": "test.arg", "arg": ["b"]}
    assert asyncio.run(LoopAcl(gateway).allowed(_identity(), chunk, "runner")) is True
    assert gateway.exact == [chunk]
