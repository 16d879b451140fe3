"""wheel calls sent to Salt's master (backend/master_wheel.py): only for a caller whose
cached ACL restricts no argument; the load holds exactly the arguments that will run
(both ``arg`` and ``kwarg``, so Salt's master runs those), and Salt's errors are raised."""

import asyncio
import time

import pytest
import salt.exceptions

from salt_ext_rest.backend.master_wheel import MasterWheel
from salt_ext_rest.backend.token_cache import TokenCache
from salt_ext_rest.errors import BadRequest


def finger(match, hash_type=None):
    return {match: hash_type}


class Functions:
    """A loaded wheel loader: Salt's private ``_dict`` of loaded functions, and ``get``."""

    def __init__(self):
        self._dict = {"key.finger": finger}

    def get(self, name):
        return self._dict.get(name)


class Gateway:
    def __init__(self, auth_list):
        async def fetch(token):
            return {}

        self.opts = {}
        self.calls = 0
        self.token_cache = TokenCache(fetch, 60)
        self.token_cache.remember("t", {"token": "t", "expire": time.time() + 600})
        if auth_list is not None:
            entry = self.token_cache.entry("t")
            self.token_cache.remember_acl("t", entry, ("u",), auth_list)

    async def call(self, func, *args):
        self.calls += 1
        return func(*args)


class Publisher:
    def __init__(self, answer):
        self.loads, self.answer = [], answer

    async def send(self, load, timeout):
        self.loads.append(load)
        return self.answer


@pytest.mark.parametrize(
    ("auth_list", "chunk", "expected"),
    [
        ([".*", "@wheel"], {"client": "wheel", "fun": "key.list_all", "token": "t"}, True),
        ([{"@wheel": ["key.list_.*"]}], {"client": "wheel", "fun": "x.y", "token": "t"}, True),
        # an argument restriction: run by rest_ext, with the arguments it checked
        (
            [{"@wheel": [{"key.accept": {"args": ["web.*"]}}]}],
            {"client": "wheel", "token": "t"},
            False,
        ),
        (None, {"client": "wheel", "fun": "key.list_all", "token": "t"}, False),  # not cached
        ([".*", "@wheel"], {"client": "wheel", "fun": "key.list_all", "token": "u"}, False),
        ([".*", "@wheel"], {"client": "wheel_async", "fun": "key.list_all", "token": "t"}, False),
        ([".*", "@wheel"], {"client": "wheel", "fun": "key.list_all"}, False),
    ],
)
def test_which_wheel_calls_go_to_the_master(auth_list, chunk, expected):
    assert MasterWheel(Gateway(auth_list), Publisher({})).handles(chunk) is expected


def test_the_master_is_sent_exactly_the_arguments_that_run():
    gateway, publisher = Gateway(["@wheel"]), Publisher({"tag": "salt/wheel/1", "data": {}})
    wheel = MasterWheel(gateway, publisher)
    wheel._functions = Functions()
    chunk = {"client": "wheel", "fun": "key.finger", "token": "t", "eauth": "rest_ext"}

    async def scenario():
        assert await wheel.run({**chunk, "match": "m1"}) == publisher.answer
        await wheel.run({**chunk, "arg": ["m2"], "kwarg": {"hash_type": "sha256"}})
        with pytest.raises(BadRequest):
            await wheel.run({**chunk, "arg": ["m3"], "match": "*"})

    asyncio.run(scenario())
    base = {"cmd": "wheel", "fun": "key.finger", "token": "t", "eauth": "rest_ext"}
    assert publisher.loads == [
        {**base, "arg": ["m1"], "kwarg": {"hash_type": None}},  # bound as Salt binds
        {**base, "arg": ["m2"], "kwarg": {"hash_type": "sha256"}},
    ]
    assert gateway.calls == 0  # bound on the loop: the function was loaded


def test_salt_masters_refusal_is_raised_as_salt_raises_it():
    publisher = Publisher({"error": {"name": "AuthorizationError", "message": "no"}})
    wheel = MasterWheel(Gateway(["@wheel"]), publisher)
    wheel._functions = Functions()
    chunk = {"client": "wheel", "fun": "key.finger", "match": "m", "token": "t"}
    with pytest.raises(salt.exceptions.AuthorizationError):
        asyncio.run(wheel.run(chunk))
