"""State of the formatted minions/jobs view: a pure state machine (no I/O, no loop).

:class:`ViewState` is fed bus events one at a time (:meth:`ViewState.apply`) and
returns every change as a :class:`Change`: the message for subscribers, either
``{"minions": {id: ...}}`` or ``{"jobs": {jid: ...}}``, and the event that decides
who may see it. Messages after a stream's snapshot are partial: each is a JSON merge
patch (RFC 7396) of the view, keyed by minion id or jid; ``null`` removes an entry.

Nothing here trusts an event's shape (minions and ``event.send`` choose what they
publish): a field of the wrong type makes the event (or that field) ignored, never
an exception. Grains are not read here; the minions whose cached grains should be
(re)read are listed in :attr:`Update.grains`.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from salt_ext_rest.events.formatted_model import (
    COMPLETE,
    FIND_JOB,
    KEY_GONE,
    RUNNING,
    SAME,
    TIMED_OUT,
    Change,
    Job,
    Update,
    copy_job,
    job_succeeded,
    merge_patch,
    minion_check,
    names,
    text,
)
from salt_ext_rest.events.model import BusEvent

log = logging.getLogger(__name__)


class ViewState:
    """Minions (id → ``{"id", "grains"}``) and the last ``history`` jobs."""

    def __init__(self, history: int, timeout: float) -> None:
        self.history = max(1, history)
        self.timeout = timeout
        self.minions: dict[str, dict[str, Any]] = {}
        self.jobs: OrderedDict[str, Job] = OrderedDict()
        self._evicted: OrderedDict[str, None] = OrderedDict()

    # -- entry points --------------------------------------------------------------
    def apply(self, event: BusEvent, now: float) -> Update:
        """Fold one bus event into the view. Unknown or malformed events change nothing."""
        update = Update()
        if event.notice or not isinstance(event.data, dict):
            return update
        parts = event.tag.split("/")
        handler = self._route(parts)
        if handler is not None:
            handler(parts, event, now, update)
        return update

    @staticmethod
    def follows(tag: str) -> bool:
        """Can an event with this tag change the view? (asked before it is decoded)"""
        return tag.startswith("salt/") and ViewState._kind(tag.split("/")) is not None

    def _route(self, parts: list[str]) -> Callable[..., None] | None:
        kind = self._kind(parts)
        return None if kind is None else getattr(self, kind)

    @staticmethod
    def _kind(parts: list[str]) -> str | None:
        if len(parts) < 2 or parts[0] != "salt":
            return None
        kind, size = parts[1], len(parts)
        if kind == "job" and size == 4 and parts[3] == "new":
            return "_on_new_job"
        if kind == "job" and size == 5 and parts[3] == "ret":
            return "_on_return"
        if kind == "key" and size == 2:
            return "_on_key"
        if kind == "minion" and size == 4 and parts[3] == "start":
            return "_on_start"
        if kind == "presence" and size == 3 and parts[2] in ("present", "change"):
            return "_on_presence"
        return None

    def snapshot(self, allows: Callable[[BusEvent], bool]) -> list[dict[str, Any]]:
        """What a new stream gets first: every minion, then every job it may see."""
        minions = {mid: rec for mid, rec in self.minions.items() if allows(minion_check(mid))}
        jobs = {jid: job.record for jid, job in self.jobs.items() if allows(job.check)}
        return [{"minions": minions}, {"jobs": jobs}]

    def expire_due(self, now: float) -> list[Change]:
        """Mark jobs whose deadline passed ``timed_out``, naming the missing minions."""
        changes = []
        for jid, job in self.jobs.items():
            if job.deadline is None or job.deadline > now or not job.pending:
                continue
            job.deadline = None
            job.record["state"] = TIMED_OUT
            job.record["missing"] = sorted(job.pending)
            patch = {"jid": jid, "state": TIMED_OUT, "missing": job.record["missing"]}
            changes.append(Change({"jobs": {jid: patch}}, job.check))
        return changes

    # -- minions -------------------------------------------------------------------
    def sync_minions(self, accepted: dict[str, dict[str, Any]]) -> list[Change]:
        """Make the minions exactly ``accepted`` (id → cached grains)."""
        changes = [self._remove(mid) for mid in list(self.minions) if mid not in accepted]
        for mid, grains in accepted.items():
            changes.extend(self.set_grains(mid, grains, add=True))
        return [change for change in changes if change is not None]

    def set_grains(self, mid: str, grains: Any, add: bool = False) -> list[Change]:
        if not isinstance(grains, dict):
            return []
        current = self.minions.get(mid)
        if current is None:
            if not add:
                return []
            self.minions[mid] = {"id": mid, "grains": grains}
            return [Change({"minions": {mid: dict(self.minions[mid])}}, minion_check(mid))]
        patch = merge_patch(current["grains"], grains)
        if patch is SAME:
            return []
        current["grains"] = grains
        return [Change({"minions": {mid: {"id": mid, "grains": patch}}}, minion_check(mid))]

    def _add(self, mid: str, update: Update) -> None:
        update.grains.add(mid)
        if mid not in self.minions:
            self.minions[mid] = {"id": mid, "grains": {}}
            update.changes.append(Change({"minions": {mid: {"id": mid, "grains": {}}}},
                                         minion_check(mid)))  # fmt: skip

    def _remove(self, mid: str) -> Change | None:
        if self.minions.pop(mid, None) is None:
            return None
        return Change({"minions": {mid: None}}, minion_check(mid))

    def _drop(self, mid: str, update: Update) -> None:
        change = self._remove(mid)
        if change is not None:
            update.changes.append(change)

    def _on_key(self, parts: list[str], event: BusEvent, now: float, update: Update) -> None:
        act, mid = event.data.get("act"), text(event.data.get("id"))
        if mid is None or not isinstance(act, str) or event.data.get("result") is False:
            log.debug("rest_ext: formatted view: ignoring key event %r", event.data)
            return
        if act == "accept":
            self._add(mid, update)
        elif act in KEY_GONE:
            self._drop(mid, update)

    def _on_start(self, parts: list[str], event: BusEvent, now: float, update: Update) -> None:
        if parts[2]:
            self._add(parts[2], update)

    def _on_presence(self, parts: list[str], event: BusEvent, now: float, update: Update) -> None:
        if parts[2] == "change":
            new = names(event.data.get("new")) or []
            lost = names(event.data.get("lost")) or []
        else:
            present = names(event.data.get("present"))
            if present is None:
                log.debug("rest_ext: formatted view: presence event without a list")
                return
            here = set(present)
            new = [mid for mid in present if mid not in self.minions]
            lost = [mid for mid in self.minions if mid not in here]
        for mid in lost:
            self._drop(mid, update)
        for mid in new:
            self._add(mid, update)

    # -- jobs ----------------------------------------------------------------------
    def _on_new_job(self, parts: list[str], event: BusEvent, now: float, update: Update) -> None:
        jid, data = parts[2], event.data
        minions = names(data.get("minions"))
        if not jid or minions is None or data.get("fun") == FIND_JOB or jid in self.jobs:
            log.debug("rest_ext: formatted view: ignoring %s", event.tag)
            return
        record = {
            "jid": jid,
            "start_time": data.get("_stamp") if isinstance(data.get("_stamp"), str) else None,
            "minions": {mid: {"success": False, "returned": False} for mid in minions},
            "fun": text(data.get("fun")),
            "tgt": data.get("tgt"),
            "tgt_type": text(data.get("tgt_type")),
            "state": RUNNING if minions else COMPLETE,
        }
        deadline = now + self.timeout if minions else None
        self.jobs[jid] = Job(record, event, set(minions), deadline)
        update.changes.append(Change({"jobs": {jid: copy_job(record)}}, event))
        update.changes.extend(self._evict())

    def _on_return(self, parts: list[str], event: BusEvent, now: float, update: Update) -> None:
        jid, mid, data = parts[2], parts[4], event.data
        if data.get("fun") == FIND_JOB:
            self._still_running(mid, data.get("return"), now)
            return
        if not jid or not mid or "return" not in data:
            log.debug("rest_ext: formatted view: ignoring %s", event.tag)
            return
        if data.get("fun") == "grains.items":
            update.changes.extend(self.set_grains(mid, data["return"], add=True))
        job = self.jobs.get(jid)
        if job is not None:
            patch = self._record_return(job, mid, data)
            update.changes.append(Change({"jobs": {jid: patch}}, job.check))
        elif jid not in self._evicted:
            job = self._adopt(jid, mid, event)
            self._record_return(job, mid, data)
            update.changes.append(Change({"jobs": {jid: copy_job(job.record)}}, job.check))
            update.changes.extend(self._evict())

    def _adopt(self, jid: str, mid: str, event: BusEvent) -> Job:
        """A job known only from a return (its start was not seen): nothing to wait for."""
        data = event.data
        fun = text(data.get("fun"))
        record: dict[str, Any] = {
            "jid": jid,
            "start_time": data.get("_stamp") if isinstance(data.get("_stamp"), str) else None,
            "minions": {},
            "fun": fun,
            "tgt": None,
            "tgt_type": None,
            "state": COMPLETE,
        }
        check = BusEvent("", f"salt/job/{jid}/new", {"jid": jid, "fun": fun, "minions": [mid]})
        job = self.jobs[jid] = Job(record, check, set(), None)
        return job

    def _record_return(self, job: Job, mid: str, data: dict[str, Any]) -> dict[str, Any]:
        """Store one minion's return (success or not, it has answered); return the patch."""
        retcode = data.get("retcode")
        entry = {
            "return": data["return"],
            "retcode": retcode if isinstance(retcode, int) else None,
            "success": job_succeeded(data),
            "returned": True,
        }
        record = job.record
        record["minions"][mid] = entry
        patch: dict[str, Any] = {"jid": record["jid"], "minions": {mid: dict(entry)}}
        if mid not in job.pending:
            return patch
        job.pending.discard(mid)
        if not job.pending:
            job.deadline = None
            record["state"] = patch["state"] = COMPLETE
            if record.pop("missing", None) is not None:
                patch["missing"] = None
        elif record["state"] == TIMED_OUT:
            record["missing"] = patch["missing"] = sorted(job.pending)
        return patch

    def _still_running(self, mid: str, found: Any, now: float) -> None:
        """A find_job answer saying ``mid`` still runs a job: push that job's deadline."""
        jid = found.get("jid") if isinstance(found, dict) else None
        job = self.jobs.get(jid) if isinstance(jid, str) else None
        if job is not None and job.deadline is not None and mid in job.pending:
            job.deadline = max(job.deadline, now + self.timeout)

    def _evict(self) -> list[Change]:
        """Drop the oldest jobsbeyond ``history``, so memory stays bounded."""
        changes = []
        while len(self.jobs) > self.history:
            jid, job = self.jobs.popitem(last=False)
            self._evicted[jid] = None
            if len(self._evicted) > max(self.history, 100):
                self._evicted.popitem(last=False)
            changes.append(Change({"jobs": {jid: None}}, job.check))
        return changes
