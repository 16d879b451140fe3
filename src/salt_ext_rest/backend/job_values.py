"""Values of the job index taken from Salt's jobs: failure, start time, target."""

from __future__ import annotations

import datetime
from typing import Any


def job_failed(ret: dict[str, Any]) -> bool:
    """A minion's return failed: Salt's ``success`` flag when sent, else a
    non-zero ``retcode``. The returned value itself is never looked at."""
    success = ret.get("success")
    if isinstance(success, bool):
        return not success
    retcode = ret.get("retcode")
    return isinstance(retcode, int) and retcode != 0


def jid_time(jid: str, utc: bool) -> float:
    """The start time Salt encodes in a jid (local time unless ``utc_jid``)."""
    try:
        stamp = datetime.datetime.strptime(jid[:20], "%Y%m%d%H%M%S%f")
    except ValueError:
        return 0.0
    if utc:
        stamp = stamp.replace(tzinfo=datetime.timezone.utc)
    return stamp.timestamp()


def target_text(value: Any) -> str:
    """A list target as Salt's CLI writes it (``a,b``); any other as text."""
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return text(value)


def text(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)
