"""The master's job cache through Salt's returner API (``master_job_cache``,
``local_cache`` by default), as the job index backfill and the test seeding use it.
Blocking: call it off the IOLoop."""

from __future__ import annotations

from typing import Any

import salt.loader

from salt_ext_rest.backend.threadlocal import per_thread


def cache_functions(opts: dict[str, Any], *names: str) -> tuple[Any, ...] | None:
    """The job cache returner's functions ``names`` (``get_jids``, ``save_load``…),
    or ``None`` when it lacks one of them."""
    cache = opts.get("master_job_cache") or "local_cache"
    returners = salt.loader.returners(opts, {})
    wanted = [f"{cache}.{name}" for name in names]
    if not all(name in returners for name in wanted):
        return None
    return tuple(returners[name] for name in wanted)


def targeted_minions(opts: dict[str, Any], jid: str) -> list[str]:
    """The minions the job cache recorded as targeted by ``jid`` (``[]``: unknown)."""
    found = per_thread(opts, "job_cache_get_load", lambda o: cache_functions(o, "get_load"))
    if found is None:
        return []
    (get_load,) = found
    load = get_load(jid) or {}
    minions = load.get("Minions") if isinstance(load, dict) else None
    return [m for m in minions if isinstance(m, str)] if isinstance(minions, list) else []


def connected(ckminions: Any, mids: list[str]) -> set[str]:
    """Which of ``mids`` hold a connection to the master now (Salt's presence check)."""
    if not mids:
        return set()
    return set(ckminions.connected_ids(subset=mids))


def job_state(opts: dict[str, Any], jid: str) -> tuple[dict[str, Any], list[str], dict[str, Any]]:
    """``(load, targeted minions, {minion: return})`` of ``jid`` in the job cache."""
    found = per_thread(opts, "job_cache_state", lambda o: cache_functions(o, "get_load", "get_jid"))
    if found is None:
        return {}, [], {}
    get_load, get_jid = found
    load = get_load(jid) or {}
    load = load if isinstance(load, dict) else {}
    minions = load.get("Minions")
    targeted = [m for m in minions if isinstance(m, str)] if isinstance(minions, list) else []
    returns = get_jid(jid) or {}
    return load, targeted, returns if isinstance(returns, dict) else {}
