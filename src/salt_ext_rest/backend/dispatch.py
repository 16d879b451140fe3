"""Run one validated lowstate chunk through Salt (on an executor thread).

Most clients go through :class:`salt.netapi.NetapiClient`, so results have exactly
rest_cherrypy's shapes. These clients are handled here instead:

* ``local`` honours ``timeout`` and can report the minions that did not return
  (by default a silent minion shows as in Salt's ``LocalClient.cmd``: Salt's
  "Minion did not return" text, or ``False``;
  ``report_missing: true`` turns the chunk's result into
  ``{"return", "minions", "missing", "jid"}`` with only real returns in ``return``);
* ``wheel`` and ``wheel_async`` are authorized here against the arguments that
  will run (:mod:`salt_ext_rest.backend.callargs`), then run locally with exactly those;
  ``wheel_async`` under a jid generated here, so the jid returned is the jid of the
  job that runs (Salt's own returns another job's jid and answers 200 for a bogus
  token). ``wheel`` answers Salt's master's shape, ``{"tag", "data"}``;
* ``ssh`` (authorized by :class:`salt_ext_rest.authz.SaltAclPolicy`) runs through
  Salt's ``SSHClient`` with only the allow-listed keys, on roster targets only:
  Salt's netapi looks tokens up in its own cache directory and refuses rest_ext's.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import salt.client
import salt.client.ssh.client
import salt.exceptions
import salt.roster
import salt.utils.args
import salt.utils.event
import salt.utils.jid

from salt_ext_rest.backend import acl, callargs, local_status, placeholders
from salt_ext_rest.backend.callargs import ssh_opts
from salt_ext_rest.backend.gateway import SaltGateway
from salt_ext_rest.lowstate.chunks import CREDENTIAL_KEYS

#: a ``local`` chunk's keys that are rest_ext's, never Salt's (not published)
REST_KEYS = ("client", "report_missing", "view")

#: the ssh chunk keys salt-ssh is given (credentials were checked before)
SSH_RUN_KEYS = ("tgt", "fun", "arg", "kwarg", "tgt_type", "timeout", "raw_shell")


class Many(list):
    """Several results from one chunk (``local_batch``): flattened into ``return``."""


class JobReturns(dict):
    """A ``local`` chunk's returns, with the job's ``jid`` (for the audit log; not sent)."""

    def __init__(self, returns: dict[str, Any], jid: str | None) -> None:
        super().__init__(returns)
        self.jid = jid


class Dispatcher:
    """Executes chunks; every method here blocks and runs on the gateway's pool."""

    def __init__(self, gateway: SaltGateway) -> None:
        self.gateway = gateway
        self.opts = gateway.opts

    def run(self, chunk: dict[str, Any]) -> Any:
        if not self.gateway.master_running():
            raise salt.exceptions.SaltDaemonNotRunning("Salt Master is not available.")
        client = chunk["client"]
        if client in ("local", "local_async"):
            return self._with_local_client(chunk)
        if client == "wheel_async":
            return self._wheel_async(chunk)
        if client == "wheel":
            return self._wheel(chunk)
        if client == "ssh":
            return self._ssh(chunk)
        result = self.gateway.netapi().run(dict(chunk))
        if isinstance(result, Iterator):
            return Many(result)
        return result

    def _with_local_client(self, chunk: dict[str, Any]) -> Any:
        client = self.gateway.local_client()
        was_listening = client.event.cpub
        try:
            if chunk["client"] == "local_async":
                low = {k: v for k, v in chunk.items() if k != "client"}
                call = salt.utils.args.format_call(client.run_job, low)
                return client.run_job(*call.get("args", ()), **call.get("kwargs", {}))
            return self._local(client, chunk)
        except BaseException:
            self.gateway.discard_local_client()
            raise
        finally:
            # As LocalClient.cmd does: stop listening, so no events pile up between calls.
            if not was_listening and client.event is not None:
                client.event.close_pub()

    def _local(self, client: Any, chunk: dict[str, Any]) -> Any:
        low = {k: v for k, v in chunk.items() if k not in REST_KEYS}
        call = salt.utils.args.format_call(client.run_job, low)
        kwargs = {**call.get("kwargs", {}), "listen": True}
        # Salt's private helper: LocalClient.cmd's own default (the master's timeout).
        timeout = client._get_timeout(low.get("timeout"))
        pub = client.run_job(*call.get("args", ()), **kwargs)
        returns, silent = self._gather(client, pub, timeout, low) if pub else ({}, {})
        if pub and local_status.wanted(chunk):
            targeted = set(pub["minions"]) | set(silent)
            online = local_status.silent_connected(self.gateway, targeted - set(returns))
            utc = bool(self.opts.get("utc_jid"))
            body = local_status.local_envelope(
                chunk, pub["jid"], targeted, returns, {}, online, utc=utc
            )
            return JobReturns(body, pub["jid"])
        return self.local_result(chunk, pub, returns, silent)

    @staticmethod
    def local_result(
        chunk: dict[str, Any], pub: dict[str, Any], returns: dict[str, Any], silent: dict[str, Any]
    ) -> Any:
        """The chunk's result from Salt's per-minion dicts and placeholders."""
        if not chunk.get("full_return"):
            returns = {mid: data.get("ret", {}) for mid, data in returns.items()}
            silent = {mid: data.get("ret", {}) for mid, data in silent.items()}
        expected = sorted(pub.get("minions", [])) if pub else []
        missing = sorted((set(expected) - set(returns)) | set(silent))
        jid = pub.get("jid") if pub else None
        if not chunk.get("report_missing"):
            # Salt's LocalClient.cmd shape (so rest_cherrypy's): Salt's "did not return"
            # text for a silent minion, False for one never heard of.
            return JobReturns({**dict.fromkeys(missing, False), **silent, **returns}, jid)
        return {"return": returns, "minions": expected, "missing": missing, "jid": jid}

    @staticmethod
    def _gather(
        client: Any, pub: dict[str, Any], timeout: float, low: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """(real returns, Salt's placeholders for minions that did not return)."""
        returns: dict[str, Any] = {}
        silent: dict[str, Any] = {}
        extra = {k: v for k, v in low.items() if k in CREDENTIAL_KEYS}
        for event in client.get_cli_event_returns(
            pub["jid"], pub["minions"], timeout, low["tgt"], low.get("tgt_type", "glob"), **extra
        ):
            for mid, data in (event or {}).items():
                (silent if data.get("out") == "no_return" else returns)[mid] = data
        return returns, silent

    # -- a step of a local call whose returns come from the bus (backend/jobs.py) -----
    def silent_placeholders(
        self, jid: str, found: set[str], missing: set[str]
    ) -> dict[str, dict[str, Any]]:
        """Salt's rows for targets that never returned (get_cli_event_returns)."""
        return placeholders.silent(self.opts, jid, found, missing)

    def _wheel_async(self, chunk: dict[str, Any]) -> dict[str, str]:
        username, low = acl.authorize_wheel(self.gateway, chunk)
        jid = salt.utils.jid.gen_jid(self.opts)
        pub = {"jid": jid, "tag": salt.utils.event.tagify(jid, prefix="wheel")}
        wheel = callargs.wheel_client(self.opts)
        return wheel.asynchronous(chunk["fun"], low, user=username, pub=pub, local=True)

    def _wheel(self, chunk: dict[str, Any]) -> dict[str, Any]:
        """As Salt's master runs a ``wheel`` call, with the arguments authorized."""
        username, low = acl.authorize_wheel(self.gateway, chunk)
        fun, jid = chunk["fun"], salt.utils.jid.gen_jid(self.opts)
        tag = salt.utils.event.tagify(jid, prefix="wheel")
        low.update({"__jid__": jid, "__tag__": tag, "__user__": username})
        ret = callargs.wheel_client(self.opts).low(fun, low, print_event=False, full_return=True)
        data = {"fun": f"wheel.{fun}", "jid": jid, "tag": tag, "user": username}
        return {"tag": tag, "data": {**data, "return": ret["return"], "success": ret["success"]}}

    def _ssh(self, chunk: dict[str, Any]) -> Any:
        """salt-ssh on the roster's targets only (never a host named by the caller)."""
        low = {key: chunk[key] for key in SSH_RUN_KEYS if key in chunk}
        opts = ssh_opts(self.opts)
        roster = salt.roster.Roster(opts, opts.get("roster", "flat"))
        try:
            if not roster.targets(low["tgt"], low.get("tgt_type") or "glob"):
                return {}
        finally:
            roster.destroy()
        client = salt.client.ssh.client.SSHClient(mopts=opts, disable_custom_roster=True)
        return client.cmd_sync(low)
