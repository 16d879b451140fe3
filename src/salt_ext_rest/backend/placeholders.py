"""Salt's rows for the targets of a job that never returned.

What ``LocalClient.get_cli_event_returns`` yields for each target
``get_iter_returns`` marks failed (salt/client/__init__.py), so a job whose returns
were collected from the bus reports a silent minion exactly as ``LocalClient.cmd``
does: "[Not connected]" for a minion known to be disconnected, "[No response]" (with
the jid to look the job up later) otherwise; syndics are left out. Blocking: runs on
the gateway's executor.
"""

from __future__ import annotations

import os
from typing import Any

import salt.cache
import salt.client
import salt.defaults.exitcodes
import salt.utils.minions

NOT_CONNECTED = "Minion did not return. [Not connected]"
NO_RESPONSE = (
    "Minion did not return. [No response]\nThe minions may not have all finished running"
    " and any remaining minions will return upon completion. To look up the return data"
    " for this job later, run the following command:\n\nsalt-run jobs.lookup_jid {}"
)


def silent(
    opts: dict[str, Any], jid: str, found: set[str], missing: set[str]
) -> dict[str, dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    connected: Any = None
    # Salt's private helper: the missing targets, with the resources of a missing
    # minion expanded, each as {id: {"failed": True}}.
    for item in salt.client._iter_failed_missing_returns(opts, found, missing):
        for mid in item:
            if connected is None:
                connected = salt.utils.minions.CkMinions(opts).connected_ids()
            if (
                opts["minion_data_cache"]
                and salt.cache.factory(opts).contains("grains", mid)
                and connected
                and mid not in connected
            ):
                text = NOT_CONNECTED
            elif not os.path.exists(os.path.join(opts["syndic_dir"], mid)):
                text = NO_RESPONSE.format(jid)
            else:  # a syndic is not reported as an unresponsive minion
                continue
            retcode = salt.defaults.exitcodes.EX_GENERIC
            rows[mid] = {"out": "no_return", "ret": text, "retcode": retcode}
    return rows
