import asyncio

import pytest

from salt_ext_rest.auth import throttle
from salt_ext_rest.auth.throttle import LoginThrottle, LoginThrottled, TokenBuckets
from salt_ext_rest.shared.memory import MemoryState


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class Limiter:
    """The async LoginThrottle on this process's memory, driven synchronously."""

    def __init__(self, throttle_):
        self.throttle = throttle_

    def begin(self, username, address):
        asyncio.run(self.throttle.begin(username, address))

    def refused(self, username, address):
        asyncio.run(self.throttle.refused(username, address))


def make(user_burst=3, address_burst=5, rate=1.0):
    clock = Clock()
    state = MemoryState(clock)
    return clock, Limiter(LoginThrottle(state, (user_burst, rate), (address_burst, rate)))


def test_burst_then_429_with_retry_after_then_refill():
    clock, limiter = make()
    for _ in range(3):
        limiter.begin("alice", "10.0.0.1")
    with pytest.raises(LoginThrottled) as caught:
        limiter.begin("alice", "10.0.0.1")
    assert caught.value.status == 429 and caught.value.retry_after == 1
    limiter.begin("bob", "10.0.0.1")  # another username: its own bucket
    clock.now += 1.0
    limiter.begin("alice", "10.0.0.1")


def test_usernames_are_compared_case_insensitively():
    _, limiter = make(user_burst=1)
    limiter.begin("Alice", "a")
    with pytest.raises(LoginThrottled):
        limiter.begin("ALICE", "b")


def test_address_bucket_covers_every_username():
    _, limiter = make(user_burst=10, address_burst=2)
    limiter.begin("a", "10.0.0.1")
    limiter.begin("b", "10.0.0.1")
    with pytest.raises(LoginThrottled):
        limiter.begin("c", "10.0.0.1")
    limiter.begin("c", "10.0.0.2")


def test_refused_attempts_cost_more():
    clock, limiter = make(user_burst=throttle.FAILURE_COST, address_burst=100)
    limiter.begin("alice", "x")
    limiter.refused("alice", "x")
    with pytest.raises(LoginThrottled) as caught:
        limiter.begin("alice", "x")
    assert caught.value.retry_after == 1
    clock.now += 1
    limiter.begin("alice", "x")


def test_zero_burst_turns_a_limit_off():
    _, limiter = make(user_burst=0, address_burst=0)
    for _ in range(1000):
        limiter.begin("alice", "x")


def test_full_buckets_are_pruned(monkeypatch):
    monkeypatch.setattr(throttle, "PRUNE_ABOVE", 10)
    clock = Clock()
    buckets = TokenBuckets(2, 1.0, clock)
    for i in range(10):
        buckets.take(f"user{i}")
    clock.now += 5  # all full again
    buckets.take("new")
    assert len(buckets._buckets) == 1
