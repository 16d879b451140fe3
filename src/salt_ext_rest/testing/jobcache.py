"""Seed a master's job cache through Salt's own job-cache returner (``local_cache``
by default): ``prep_jid``, ``save_load``, then ``returner`` for each minion's return,
as the master itself writes it. For tests and benchmarks of ``GET /jobs``.

Each seeded job is a :class:`SeedJob`; the plan is deterministic (from ``index``), so
a test computes what it expects from the same plan instead of hard-coding it.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from salt_ext_rest.backend.job_cache import cache_functions

FUNCTIONS = ("test.arg", "cmd.run", "state.apply")
SECRET = "seeded-secret-value"


@dataclass(frozen=True)
class SeedJob:
    jid: str
    fun: str
    arg: list[Any]
    tgt: Any
    tgt_type: str
    user: str
    minions: list[str]
    returns: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def failed(self) -> int:
        return sum(1 for ret in self.returns.values() if ret.get("success") is False)


def make_jid(start: datetime.datetime, index: int) -> str:
    """A jid ``index`` seconds after ``start`` (Salt's 20-digit form)."""
    return (start + datetime.timedelta(seconds=index)).strftime("%Y%m%d%H%M%S%f")


def plan(
    count: int,
    user: str | tuple[str, ...],
    start: datetime.datetime,
    minions: tuple[str, str] = ("minion-1", "minion-2"),
    first_index: int = 0,
) -> Iterator[SeedJob]:
    """``count`` jobs from ``first_index`` on, one second apart from ``start``:
    functions (and users, when several) in turn; every other job targets both minions
    (a list), of those every fifth fails on the second minion and every seventh misses it."""
    first, second = minions
    users = (user,) if isinstance(user, str) else user
    for i in range(first_index, first_index + count):
        both = i % 2 == 1
        targets = [first, second] if both else [first]
        returns: dict[str, dict[str, Any]] = {
            first: {"return": True, "retcode": 0, "success": True}
        }
        if both and i % 7 != 0:
            bad = i % 5 == 0
            returns[second] = {"return": "boom" if bad else True, "retcode": int(bad),
                               "success": not bad}  # fmt: skip
        yield SeedJob(
            jid=make_jid(start, i),
            fun=FUNCTIONS[i % len(FUNCTIONS)],
            arg=[f"a{i}", {"password": SECRET, "__kwarg__": True}],
            tgt=targets if both else first,
            tgt_type="list" if both else "glob",
            user=users[i % len(users)],
            minions=targets,
            returns=returns,
        )


def seed(master_opts: dict[str, Any], jobs: list[SeedJob]) -> list[SeedJob]:
    """Write ``jobs`` into the master's job cache; returns them."""
    functions = cache_functions(master_opts, "prep_jid", "save_load", "returner")
    assert functions is not None, "the master's job cache cannot save jobs"
    prep_jid, save_load, returner = functions
    for job in jobs:
        prep_jid(passed_jid=job.jid)  # as the master does (the cleaner needs its jid file)
        load = {"jid": job.jid, "fun": job.fun, "arg": job.arg, "tgt": job.tgt,
                "tgt_type": job.tgt_type, "user": job.user}  # fmt: skip
        save_load(job.jid, load, minions=job.minions)
        for mid, ret in job.returns.items():
            returner({"jid": job.jid, "id": mid, "fun": job.fun, **ret})
    return jobs
