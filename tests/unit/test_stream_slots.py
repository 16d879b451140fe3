"""Stream slots per token: a cap, released slots come back, tokens count apart."""

import pytest

from salt_ext_rest.errors import TooManyRequests
from salt_ext_rest.http.stream_slots import StreamSlots


def test_cap_per_token():
    slots = StreamSlots(2)
    slots.acquire("a")
    slots.acquire("a")
    with pytest.raises(TooManyRequests) as info:
        slots.acquire("a")
    assert info.value.status == 429
    slots.acquire("b")  # another token has slots of its own
    slots.release("a")
    slots.acquire("a")
    for token in ("a", "a", "b"):
        slots.release(token)
    assert slots.counts == {}
