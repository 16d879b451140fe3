"""``GET /jobs/<jid>?view=status``: one envelope per job, each targeted minion's state.

``{jid, function, target, target_type, user, started, minions: {id: {status, retcode,
success, return}}, summary: {...}}``. A minion's ``status``:

* ``returned``: its return is in the job cache;
* ``running``: no return yet, connected, and the job is younger than
  :data:`~salt_ext_rest.http.job_pages.RUNNING_WINDOW`;
* ``not_connected``: no return, and the minion holds no connection to the master now;
* ``did_not_return``: no return, connected, and the job is older than that.

(``timed_out`` is what a synchronous call reports for a minion that did not answer
within its timeout; a job read back from the cache has no timeout.) ``success``
comes from Salt's ``success`` flag, else from ``retcode`` (0 is success), else it is
``null``: never guessed from the returned value.
"""

from __future__ import annotations

import datetime
import time
from collections import Counter
from typing import Any

from salt_ext_rest.backend.job_index import jid_time
from salt_ext_rest.http.job_pages import RUNNING_WINDOW

STATUSES = ("returned", "running", "timed_out", "not_connected", "did_not_return")
VIEWS = ("status",)


def results_of(job: dict[str, Any]) -> dict[str, Any]:
    results = job.get("Result")
    return results if isinstance(results, dict) else {}


def success_of(ret: dict[str, Any]) -> bool | None:
    success = ret.get("success")
    if isinstance(success, bool):
        return success
    retcode = ret.get("retcode")
    if isinstance(retcode, int) and not isinstance(retcode, bool):
        return retcode == 0
    return None


def envelope(
    jid: str,
    job: dict[str, Any],
    targeted: list[str],
    connected: set[str],
    utc: bool,
    now: float | None = None,
) -> dict[str, Any]:
    """The envelope of ``job`` (``jobs.list_job``'s answer)."""
    results = results_of(job)
    started = jid_time(jid, utc)
    young = started >= (now if now is not None else time.time()) - RUNNING_WINDOW
    minions: dict[str, dict[str, Any]] = {}
    for mid in sorted(set(targeted) | set(results)):
        ret = results.get(mid)
        if isinstance(ret, dict):
            minions[mid] = {"status": "returned", "retcode": ret.get("retcode"),
                            "success": success_of(ret), "return": ret.get("return")}  # fmt: skip
            continue
        status = (
            "not_connected" if mid not in connected else "running" if young else "did_not_return"
        )
        minions[mid] = {"status": status, "retcode": None, "success": None, "return": None}
    return {
        "jid": jid,
        "function": job.get("Function"),
        "target": job.get("Target"),
        "target_type": job.get("Target-type"),
        "user": job.get("User"),
        "started": _iso(started) if started else None,
        "minions": minions,
        "summary": summary(minions),
    }


def summary(minions: dict[str, dict[str, Any]]) -> dict[str, Any]:
    counts = Counter(entry["status"] for entry in minions.values())
    returned = [entry for entry in minions.values() if entry["status"] == "returned"]
    return {
        "targeted": len(minions),
        **{status: counts.get(status, 0) for status in STATUSES},
        "succeeded": sum(1 for entry in returned if entry["success"] is True),
        "failed": sum(1 for entry in returned if entry["success"] is False),
        "unknown": sum(1 for entry in returned if entry["success"] is None),
        "complete": counts.get("running", 0) == 0,
        "ok": len(returned) == len(minions) and all(e["success"] is True for e in returned),
    }


def _iso(stamp: float) -> str:
    moment = datetime.datetime.fromtimestamp(stamp, datetime.timezone.utc)
    return moment.isoformat().replace("+00:00", "Z")
