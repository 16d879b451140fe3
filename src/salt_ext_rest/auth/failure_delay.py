"""Failed logins last as long as Salt makes them, without holding an executor thread.

Salt's ``LoadAuth.time_auth`` makes every failed eauth check last a random time around
the longest failure seen so far (at least a second), so that timing does not tell one
wrong credential from another; it waits on the thread that ran the check. rest_ext runs
the check without that wait and waits here instead, the same way, on the IOLoop: a burst
of failing logins then holds no thread of ``auth_thread_pool`` that a good login needs.
"""

from __future__ import annotations

import asyncio
import random

#: Salt's ``LoadAuth.max_fail`` before any failure was seen.
FLOOR = 1.0


class FailureDelay:
    def __init__(self, floor: float = FLOOR) -> None:
        self.max_fail = floor
        self._random = random.SystemRandom()

    def remaining(self, check_seconds: float) -> float:
        """How much longer a failure whose check took ``check_seconds`` must last."""
        self.max_fail = max(self.max_fail, check_seconds)
        deviation = self.max_fail / 4
        total = self._random.uniform(self.max_fail - deviation, self.max_fail + deviation)
        return max(0.0, total - check_seconds)

    async def wait(self, check_seconds: float) -> None:
        await asyncio.sleep(self.remaining(check_seconds))
