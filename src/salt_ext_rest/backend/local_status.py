"""``view: status`` on a synchronous ``local`` chunk: the envelope of
``GET /jobs/<jid>?view=status`` built from what the call gathered (docs/jobs.rst).

Each targeted minion is ``returned`` (``retcode`` as it sent it; ``success`` from
Salt's ``success`` flag, else ``retcode == 0``, never from the value), or, silent:

* ``not_connected``: it holds no connection to the master;
* ``did_not_return``: connected, and its ``saltutil.find_job`` answer said it does not
  run the job (it never will return);
* ``timed_out``: connected, and no return within the call's timeouts.

Blocking (the presence check): runs on the gateway's executor.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import Any

from salt_ext_rest.backend import job_cache
from salt_ext_rest.backend.job_index import jid_time
from salt_ext_rest.http.job_envelope import success_of, summary

#: the values of a ``local`` chunk's ``view`` key
VIEWS = ("status",)


def wanted(chunk: dict[str, Any]) -> bool:
    return chunk.get("view") == "status"


def local_envelope(
    chunk: dict[str, Any],
    jid: str,
    targeted: Iterable[str],
    returns: dict[str, dict[str, Any]],
    flags: dict[str, Any],
    connected: set[str],
    not_running: set[str] = frozenset(),  # type: ignore[assignment]
    new: dict[str, Any] | None = None,
    utc: bool = False,
) -> dict[str, Any]:
    """``returns``: Salt's per-minion rows (``{"ret", "retcode", ...}``); ``flags``: the
    ``success`` flag of each return that carried one; ``new``: the new-job event."""
    minions: dict[str, dict[str, Any]] = {}
    for mid in sorted(set(targeted) | set(returns)):
        row = returns.get(mid)
        if row is not None:
            seen = {
                "retcode": row.get("retcode"),
                **({"success": flags[mid]} if mid in flags else {}),
            }
            minions[mid] = {"status": "returned", "retcode": row.get("retcode"),
                            "success": success_of(seen), "return": row.get("ret")}  # fmt: skip
            continue
        status = (
            "not_connected" if mid not in connected
            else "did_not_return" if mid in not_running
            else "timed_out"
        )  # fmt: skip
        minions[mid] = {"status": status, "retcode": None, "success": None, "return": None}
    new = new or {}
    started = jid_time(jid, utc)
    return {
        "jid": jid,
        "function": chunk.get("fun"),
        "target": chunk.get("tgt"),
        "target_type": chunk.get("tgt_type") or "glob",
        "user": new.get("user") if isinstance(new.get("user"), str) else None,
        "started": _iso(started) if started else None,
        "minions": minions,
        "summary": summary(minions),
    }


def silent_connected(gateway: Any, silent: Iterable[str]) -> set[str]:
    """Which silent targets hold a connection to the master now (blocking)."""
    return job_cache.connected(gateway.ckminions(), sorted(silent))


def _iso(stamp: float) -> str:
    moment = datetime.datetime.fromtimestamp(stamp, datetime.timezone.utc)
    return moment.isoformat().replace("+00:00", "Z")
