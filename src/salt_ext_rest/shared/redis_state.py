"""Shared state of a whole deployment in Redis (``shared_store: redis://...``).

Keys, each under ``shared_store_prefix``:

* ``bucket:user:<name>`` / ``bucket:address:<addr>``: a hash (tokens, updated),
  updated by one Lua script per login attempt (check and take in one step), expiring
  once full again;
* ``slots:<sha256 of the token>``: a sorted set of stream-slot leases scored by their
  expiry (30 s, renewed every 10 s by the worker holding them: a dead worker's slots
  expire);
* ``worker:<host>:<pid>``: a hash with the worker's record, expiring after 60 s, and
  ``workers``: the set of those names.

Every operation goes through :meth:`RedisLink.run` (bounded; raises
:class:`StoreUnavailable`). Times come from the Redis server's clock.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from salt_ext_rest.shared.redis_link import RedisLink
from salt_ext_rest.shared.state import SLOT_LEASE, WORKER_TTL, Bucket

TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local cost = tonumber(ARGV[1])
local check = ARGV[2] == '1'
local levels, wait = {}, 0
for i, key in ipairs(KEYS) do
  local burst, rate = tonumber(ARGV[1 + 2 * i]), tonumber(ARGV[2 + 2 * i])
  local v = redis.call('HMGET', key, 'tokens', 'updated')
  local tokens = burst
  if v[1] then
    tokens = math.min(burst, tonumber(v[1]) + (now - tonumber(v[2])) * rate)
  end
  levels[i] = tokens
  if check and tokens < 1 then wait = math.max(wait, (1 - tokens) / rate) end
end
if wait > 0 then return tostring(wait) end
for i, key in ipairs(KEYS) do
  local burst, rate = tonumber(ARGV[1 + 2 * i]), tonumber(ARGV[2 + 2 * i])
  local left = levels[i] - cost
  redis.call('HSET', key, 'tokens', tostring(left), 'updated', tostring(now))
  redis.call('PEXPIRE', key, math.ceil((burst - left) / rate * 1000) + 1000)
end
return '0'
"""

ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('EXPIRE', KEYS[1], math.ceil(2 * tonumber(ARGV[3])))
return 1
"""

RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, now + tonumber(ARGV[1]), ARGV[1 + i])
  redis.call('EXPIRE', key, math.ceil(2 * tonumber(ARGV[1])))
end
return 1
"""


class Script:
    """A Lua script run by its SHA1 (``EVALSHA``), loaded with ``EVAL`` when Redis lacks it."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()  # Redis's own script id

    async def __call__(self, client: Any, keys: Sequence[str], args: Sequence[Any]) -> Any:
        from redis.exceptions import NoScriptError

        try:
            return await client.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            return await client.eval(self.source, len(keys), *keys, *args)


_TAKE, _ACQUIRE, _RENEW = Script(TAKE), Script(ACQUIRE), Script(RENEW)


class RedisState:
    kind = "redis"

    def __init__(self, link: RedisLink) -> None:
        self.link = link

    async def take(self, buckets: Sequence[Bucket], cost: float, check: bool) -> float:
        limited = [b for b in buckets if b.burst]
        if not limited:
            return 0.0
        keys = [self.link.key("bucket", b.kind, b.key) for b in limited]
        args: list[Any] = [cost, "1" if check else "0"]
        for bucket in limited:
            args += [bucket.burst, bucket.rate]
        wait = await self.link.run(lambda r: _TAKE(r, keys, args))
        return float(wait)

    async def acquire_slot(self, digest: str, lease: str, limit: int) -> bool:
        key = self.link.key("slots", digest)
        held = await self.link.run(lambda r: _ACQUIRE(r, [key], [lease, limit, SLOT_LEASE]))
        return bool(held)

    async def release_slot(self, digest: str, lease: str) -> None:
        key = self.link.key("slots", digest)
        await self.link.run(lambda r: r.zrem(key, lease))

    async def renew_slots(self, leases: dict[str, str]) -> None:
        if not leases:
            return
        keys = [self.link.key("slots", digest) for digest in leases.values()]
        args = [SLOT_LEASE, *leases]
        await self.link.run(lambda r: _RENEW(r, keys, args))

    async def publish_worker(self, record: dict[str, Any]) -> None:
        name = f"{record['host']}:{record['pid']}"
        key, index = self.link.key("worker", name), self.link.key("workers")

        async def publish(r: Any) -> None:
            async with r.pipeline(transaction=False) as pipe:
                pipe.hset(key, mapping={"record": json.dumps(record)})
                pipe.expire(key, int(WORKER_TTL))
                pipe.sadd(index, name)
                await pipe.execute()

        await self.link.run(publish)

    async def workers(self) -> list[dict[str, Any]]:
        index = self.link.key("workers")

        async def read(r: Any) -> list[dict[str, Any]]:
            names = sorted(n.decode() for n in await r.smembers(index))
            async with r.pipeline(transaction=False) as pipe:
                for name in names:
                    pipe.hget(self.link.key("worker", name), "record")
                found = await pipe.execute()
            gone = [name for name, raw in zip(names, found, strict=True) if raw is None]
            if gone:
                await r.srem(index, *gone)
            return [json.loads(raw) for raw in found if raw is not None]

        return await self.link.run(read)

    def status(self) -> dict[str, Any]:
        return self.link.status()

    async def close(self) -> None:
        await self.link.close()
