"""The Redis link against a real redis-server: bounded failures, one log line, recovery."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from salt_ext_rest.shared.redis_link import RedisLink, StoreUnavailable, safe_url


def test_safe_url_hides_the_password() -> None:
    assert safe_url("redis://:s3cret@10.0.0.1:6379/0") == "redis://:***@10.0.0.1:6379/0"
    assert safe_url("rediss://app:s3cret@h:1/2") == "rediss://app:***@h:1/2"
    assert safe_url("redis://h:1/0") == "redis://h:1/0"


def test_outage_is_bounded_logged_once_and_recovers(redis_server, caplog) -> None:
    async def scenario() -> None:
        link = RedisLink(redis_server.url, timeout=0.25, prefix="t-link:")
        assert await link.run(lambda r: r.set(link.key("a"), "1")) is True
        assert link.status()["available"] is True
        redis_server.stop()
        try:
            for _ in range(5):
                started = time.monotonic()
                with pytest.raises(StoreUnavailable):
                    await link.run(lambda r: r.get(link.key("a")))
                assert time.monotonic() - started < 0.5
            status = link.status()
            assert status["available"] is False and status["degraded_since"]
        finally:
            redis_server.start()
        deadline = time.monotonic() + 5
        while True:
            try:
                await link.run(lambda r: r.ping())
                break
            except StoreUnavailable:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.1)
        assert link.status()["available"] is True
        await link.close()

    with caplog.at_level(logging.WARNING, logger="salt_ext_rest.shared.redis_link"):
        asyncio.run(scenario())
    lines = [r.getMessage() for r in caplog.records]
    assert sum("unavailable" in line for line in lines) == 1, lines
    assert sum("is back after" in line for line in lines) == 1, lines
