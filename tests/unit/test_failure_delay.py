"""The failure delay waited on the IOLoop matches Salt's ``LoadAuth.time_auth``."""

import asyncio
import time

from salt_ext_rest.auth.failure_delay import FailureDelay


def test_a_fast_failure_lasts_three_quarters_to_five_quarters_of_a_second():
    delay = FailureDelay()
    waits = [delay.remaining(0.01) for _ in range(200)]
    assert all(0.74 - 0.01 <= w <= 1.25 - 0.01 for w in waits)
    assert max(waits) - min(waits) > 0.2  # random, as Salt's: timing tells nothing


def test_the_slowest_failure_raises_the_bar_for_every_later_one():
    delay = FailureDelay()
    assert delay.remaining(3.0) <= 0.75  # total within 2.25..3.75 s
    assert delay.max_fail == 3.0
    assert all(delay.remaining(0.01) >= 2.25 - 0.01 for _ in range(50))


def test_the_wait_is_an_asyncio_sleep():
    async def two_at_once():
        delay = FailureDelay(floor=0.2)
        started = time.monotonic()
        await asyncio.gather(delay.wait(0.0), delay.wait(0.0))
        return time.monotonic() - started

    assert 0.14 <= asyncio.run(two_at_once()) < 0.4  # concurrent, not one after the other
