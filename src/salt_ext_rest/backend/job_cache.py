"""The master's job cache through Salt's returner API (``master_job_cache``,
``local_cache`` by default), as the job index backfill and the test seeding use it.
Blocking: call it off the IOLoop."""

from __future__ import annotations

from typing import Any

import salt.loader


def cache_functions(opts: dict[str, Any], *names: str) -> tuple[Any, ...] | None:
    """The job cache returner's functions ``names`` (``get_jids``, ``save_load``…),
    or ``None`` when it lacks one of them."""
    cache = opts.get("master_job_cache") or "local_cache"
    returners = salt.loader.returners(opts, {})
    wanted = [f"{cache}.{name}" for name in names]
    if not all(name in returners for name in wanted):
        return None
    return tuple(returners[name] for name in wanted)
