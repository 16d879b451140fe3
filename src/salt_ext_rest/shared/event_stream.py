"""The Redis side of the shared event history (:mod:`salt_ext_rest.events.shared_history`):
the Lua script that adds events once, and stream entry ids."""

from __future__ import annotations

from typing import Any

# KEYS: the stream, the id index (hash: event id -> stream entry id), the index's order
# (list of event ids), a counter. ARGV: MAXLEN of the stream, size of the index, then
# id, event... Each entry carries its number ``n`` (1, 2, ...): a reader that finds a
# number missing knows entries were trimmed before it read them.
ADD_EVENTS = """
local added = 0
for i = 3, #ARGV, 2 do
  if redis.call('HEXISTS', KEYS[2], ARGV[i]) == 0 then
    local n = redis.call('INCR', KEYS[4])
    local sid = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*',
                           'id', ARGV[i], 'ev', ARGV[i + 1], 'n', n)
    redis.call('HSET', KEYS[2], ARGV[i], sid)
    redis.call('RPUSH', KEYS[3], ARGV[i])
    added = added + 1
  end
end
local excess = redis.call('LLEN', KEYS[3]) - tonumber(ARGV[2])
if excess > 0 then
  redis.call('HDEL', KEYS[2], unpack(redis.call('LPOP', KEYS[3], excess)))
end
return added
"""


def sid_key(sid: str) -> tuple[int, int]:
    ms, _, seq = sid.partition("-")
    return int(ms), int(seq or 0)


def text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
