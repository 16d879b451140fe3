"""The formatted view's records and the pure helpers that read events for it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from salt_ext_rest.events.model import BusEvent

RUNNING, COMPLETE, TIMED_OUT = "running", "complete", "timed_out"
# The master's "is this job still running?" polls: plumbing, not jobs of their own.
FIND_JOB = "saltutil.find_job"
# Key actions after which a minion is no longer accepted.
KEY_GONE = frozenset({"delete", "reject", "pend"})
SAME = object()


@dataclass(frozen=True)
class Change:
    """One message for subscribers, shown to those allowed to see ``check``."""

    message: dict[str, Any]
    check: BusEvent


@dataclass
class Update:
    changes: list[Change] = field(default_factory=list)
    grains: set[str] = field(default_factory=set)


@dataclass
class Job:
    record: dict[str, Any]
    check: BusEvent
    pending: set[str]
    deadline: float | None


def minion_check(mid: str) -> BusEvent:
    """The event standing for a minion entry when asking filters and visibility."""
    return BusEvent("", f"salt/minion/{mid}/start", {"id": mid})


def merge_patch(old: Any, new: Any) -> Any:
    """The RFC 7396 merge patch turning ``old`` into ``new``; ``SAME`` when equal."""
    if not (isinstance(old, dict) and isinstance(new, dict)):
        return SAME if old == new else new
    patch: dict[str, Any] = {key: None for key in old if key not in new}
    for key, value in new.items():
        sub = merge_patch(old[key], value) if key in old else value
        if sub is not SAME:
            patch[key] = sub
    return patch or SAME


def names(value: Any) -> list[str] | None:
    """The non-empty strings of a list, or ``None`` when ``value`` is not a list."""
    if not isinstance(value, list | tuple):
        return None
    return [item for item in value if isinstance(item, str) and item]


def text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def job_succeeded(data: dict[str, Any]) -> bool:
    success = data.get("success")
    if isinstance(success, bool):
        return success
    retcode = data.get("retcode")
    return not isinstance(retcode, int) or retcode == 0


def copy_job(record: dict[str, Any]) -> dict[str, Any]:
    return {**record, "minions": {mid: dict(e) for mid, e in record["minions"].items()}}
