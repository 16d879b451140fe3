"""Which events a caller may see.

``acl`` (the default): a caller with unrestricted permissions (see
:func:`salt_ext_rest.backend.acl.is_unrestricted`) sees every event. Any other caller
sees job events (``salt/job``, ``salt/run``, ``salt/wheel``) of functions and targets
its eauth ACL allows, or of its own jobs; every other event (``salt/auth``,
``salt/key``, minion starts, hooks, beacons, custom tags) only when its tag matches a
glob that ``event_visibility_tags`` lists for the caller's eauth backend and user name
(or ``group%``, or ``*``). ``all`` shows every event to every authenticated caller.
Stream notices always pass.

A policy is asked once per stream (``prepare``, which may do blocking work on the
gateway's executor) and returns a cheap predicate the bus applies to every event.
The formatted view also asks the predicate's ``minion(id)``, when it has one, how
much of a minion a caller may see (:data:`GRAINS`, :data:`ID_ONLY` or ``None``).
"""

from __future__ import annotations

import fnmatch
import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from salt_ext_rest.auth.identity import Identity
from salt_ext_rest.backend.acl import expr_match, is_unrestricted
from salt_ext_rest.events.model import BusEvent

if TYPE_CHECKING:
    from salt_ext_rest.services import Services

Predicate = Callable[[BusEvent], bool]
GRAINS, ID_ONLY = "grains", "id"
JOB_KINDS = ("job", "run", "wheel")


class VisibilityPolicy(Protocol):
    name: str

    async def prepare(self, identity: Identity) -> Predicate:
        """Return the predicate deciding, per event, what ``identity`` may see."""
        ...


class SeeAll:
    """The predicate of an unrestricted caller: every event, every minion with grains."""

    def __call__(self, event: BusEvent) -> bool:
        return True

    def minion(self, mid: str) -> str | None:
        return GRAINS


class ShowAll:
    name = "all"

    def __init__(self, context: Services) -> None:
        self.context = context

    async def prepare(self, identity: Identity) -> Predicate:
        return SeeAll()


def tag_globs(context: Services, identity: Identity) -> tuple[str, ...]:
    """The ``event_visibility_tags`` globs of this caller (its eauth backend only)."""
    entries = context.config.event_visibility_tags.get(identity.eauth) or {}
    names = [identity.name, "*", *(f"{group}%" for group in identity.groups)]
    return tuple(glob for name in names for glob in entries.get(name, ()))


class AclChecks(Protocol):
    """Salt's ACL check Restricted asks (``CkMinions``) for runner and wheel events."""

    def spec_check(
        self, auth_list: list[Any], fun: str, args: dict[str, Any], form: str
    ) -> Any: ...


class AclVisibility:
    name = "acl"

    def __init__(self, context: Services) -> None:
        self.context = context

    async def prepare(self, identity: Identity) -> Predicate:
        gateway = self.context.gateway
        auth_list = list(await gateway.auth_list(identity))
        if is_unrestricted(auth_list):
            return SeeAll()
        # The ACL's targets are expanded here, off the loop, once per stream.
        targets = await gateway.acl_targets(auth_list)
        globs = tag_globs(self.context, identity)
        return Restricted(gateway.ckminions(), identity, auth_list, globs, targets)


class Restricted:
    """What a restricted caller sees (the answers are cached per stream)."""

    def __init__(
        self,
        ckminions: AclChecks,
        identity: Identity,
        auth_list: list[Any],
        globs: tuple[str, ...],
        targets: dict[str, frozenset[str] | None] | None = None,
    ) -> None:
        self.ckminions, self.identity, self.auth_list, self.globs = (
            ckminions, identity, auth_list, globs
        )  # fmt: skip
        self.targets = targets or {}
        self._allowed = functools.lru_cache(maxsize=4096)(self._allowed_uncached)
        self.minion = functools.lru_cache(maxsize=4096)(self._minion_uncached)

    def __call__(self, event: BusEvent) -> bool:
        if event.notice:
            return True
        parts = event.tag.split("/")
        if len(parts) >= 4 and parts[0] == "salt" and parts[1] in JOB_KINDS:
            fun = event.data.get("fun")
            if isinstance(fun, str):
                own = event.data.get("user") == self.identity.name
                mids = () if own else tuple(sorted(_job_minions(parts, event.data)))
                if self._allowed(parts[1], fun, own, mids):
                    return True
        return any(fnmatch.fnmatchcase(event.tag, glob) for glob in self.globs)

    def _allowed_uncached(self, kind: str, fun: str, own: bool, mids: tuple[str, ...]) -> bool:
        """May the caller see a ``kind`` job of ``fun`` on ``mids``? Its own jobs
        (Salt records only the user name in job events) need the function in the
        caller's ACL of its eauth backend, whatever the targets. No I/O: the ACL's
        targets were expanded when the stream opened."""
        if kind == "job":
            if own:
                return _covers(self._functions(None), fun)
            return bool(mids) and all(_covers(self._functions(mid), fun) for mid in mids)
        form = "runner" if kind == "run" else "wheel"
        name = fun.split(".", 1)[1] if fun.startswith(f"{form}.") else fun
        result = self.ckminions.spec_check(self.auth_list, name, {}, form)
        return bool(result) and not isinstance(result, dict)

    def _functions(self, mid: str | None) -> list[Any]:
        """The function entries of the ACL that apply to minion ``mid`` (``None``: to
        any minion), or ``[]`` when no entry lets the caller target it."""
        funs: list[Any] = []
        for entry in self.auth_list:
            if isinstance(entry, str) and not entry.startswith("@"):
                funs.append(entry)
            elif isinstance(entry, dict):
                for target, value in entry.items():
                    if not isinstance(target, str) or target.startswith("@"):
                        continue
                    if mid is None or (target in self.targets and self._matches(target, mid)):
                        funs.extend(value if isinstance(value, list) else [value])
        return funs

    def _minion_uncached(self, mid: str) -> str | None:
        """:data:`GRAINS` when ``GET /minions`` would show ``mid`` to the caller (an
        entry covering ``grains.items`` applies to it), :data:`ID_ONLY` when some entry
        lets it target ``mid``, else ``None``."""
        funs = self._functions(mid)
        if not funs:
            return None
        return GRAINS if _covers(funs, "grains.items") else ID_ONLY

    def _matches(self, target: str, mid: str) -> bool:
        minions = self.targets[target]
        return minions is None or mid in minions


def _covers(funs: list[Any], fun: str) -> bool:
    """Does one of the ACL's function entries (a pattern, or ``{pattern: {args...}}``)
    match ``fun``? Argument restrictions do not hide a job's events."""
    for item in funs:
        names = item.keys() if isinstance(item, dict) else [item]
        if any(isinstance(n, str) and expr_match(fun, n) for n in names):
            return True
    return False


def minion_access(visible: Predicate, check: BusEvent, mid: str) -> str | None:
    """How much of minion ``mid`` a predicate shows (policies without ``minion()``
    decide by the minion's stand-in event ``check``)."""
    minion = getattr(visible, "minion", None)
    if minion is not None:
        return minion(mid)
    return GRAINS if visible(check) else None


def _job_minions(parts: list[str], data: dict[str, Any]) -> set[str]:
    if len(parts) >= 5 and parts[3] in ("ret", "prog"):
        return {parts[4]}
    minions = data.get("minions")
    return {m for m in minions if isinstance(m, str)} if isinstance(minions, list) else set()
