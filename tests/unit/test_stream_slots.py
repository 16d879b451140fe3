"""Stream slots per token: a cap, released slots come back, tokens count apart."""

import asyncio

import pytest

from salt_ext_rest.errors import TooManyRequests
from salt_ext_rest.http.stream_slots import StreamSlots
from salt_ext_rest.shared.memory import MemoryState
from salt_ext_rest.shared.state import token_digest
from salt_ext_rest.shared.worker import WorkerShare


def test_cap_per_token():
    async def scenario():
        state = MemoryState()
        share = WorkerShare(state)
        slots = StreamSlots(2, share)
        await slots.acquire("a")
        await slots.acquire("a")
        with pytest.raises(TooManyRequests) as info:
            await slots.acquire("a")
        assert info.value.status == 429
        await slots.acquire("b")  # another token has slots of its own
        assert set(state.slots) == {token_digest("a"), token_digest("b")}  # never the token
        slots.release("a")
        await asyncio.sleep(0)  # the store's release runs in the background
        await slots.acquire("a")
        for token in ("a", "a", "b"):
            slots.release(token)
        slots.release("never-held")  # nothing to give back: no error
        await share.stop()
        assert slots.counts == {} and share.held == {} and state.slots == {}

    asyncio.run(scenario())
