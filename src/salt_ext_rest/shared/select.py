"""Which shared state a worker uses, from the configuration (zero-config on one host).

* ``shared_store: redis://...``: Redis, falling back to the host-local state;
* else ``num_processes`` above 1: the SQLite file ``<sock_dir>/rest_ext-<port>.sqlite``,
  falling back to this process's memory;
* else this process's memory.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

from salt_ext_rest.config import RestConfig
from salt_ext_rest.shared.layered import LayeredState
from salt_ext_rest.shared.local import SqliteState, state_path
from salt_ext_rest.shared.memory import MemoryState
from salt_ext_rest.shared.redis_link import RedisLink
from salt_ext_rest.shared.redis_state import RedisState
from salt_ext_rest.shared.state import SharedState


def host_local_state(opts: dict[str, Any], config: RestConfig) -> SharedState:
    if config.num_processes <= 1:
        return MemoryState()
    sock_dir = opts.get("sock_dir") or tempfile.gettempdir()
    path = state_path(os.fspath(sock_dir), config.port)
    return LayeredState(SqliteState(path), MemoryState())


def make_link(config: RestConfig) -> RedisLink | None:
    """The worker's one link to Redis (``None`` without ``shared_store``): the shared
    state and the shared event history use it together, so an outage is one state,
    logged once per worker."""
    if not config.shared_store:
        return None
    return RedisLink(config.shared_store, config.shared_store_timeout, config.shared_store_prefix)


def make_shared_state(
    opts: dict[str, Any], config: RestConfig, link: RedisLink | None = None
) -> SharedState:
    local = host_local_state(opts, config)
    if link is None:
        return local
    return LayeredState(RedisState(link), local)
