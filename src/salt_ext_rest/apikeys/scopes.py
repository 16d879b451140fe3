"""Are a key's scopes within its creator's ACL? Proven, or refused.

Scopes and ACLs are eauth ACL lists: ``'fun'`` (on every minion), ``{tgt: [fun...]}``,
``'@runner'``, ``{'@wheel': [fun...]}``, a function may carry argument restrictions
(``{fun: {args: [...], kwargs: {...}}}``). Both lists are flattened into grants
``(kind, target, function entry)``. A scope grant is covered when one ACL grant of
the same kind has a target and a function pattern that surely match at least all
it matches. Salt matches a pattern as a glob *or* a regular expression, so only
simple shapes are compared (``name``, ``prefix*``, ``prefix.*``); anything else is
covered only by the same text or by ``*``/``.*``. Argument restrictions are covered
by the same restriction or by none.
"""

from __future__ import annotations

import re
from typing import Any

_SAFE = re.compile(r"[A-Za-z0-9_.\-]*")
_KINDS = {"@runners": "@runner", "@wheels": "@wheel"}

Grant = tuple[str, str, Any]


class ScopeError(ValueError):
    """Scopes that are not an eauth ACL list."""


def _fun_entries(value: Any) -> list[Any]:
    entries = value if isinstance(value, list) else [value]
    for entry in entries:
        if isinstance(entry, dict):
            if len(entry) != 1 or not isinstance(next(iter(entry)), str):
                raise ScopeError("an argument restriction is {function: {args, kwargs}}")
        elif not isinstance(entry, str) or not entry:
            raise ScopeError("a function entry is a non-empty string or a restriction")
    return entries


def grants(acl: Any) -> list[Grant]:
    """Flatten an ACL list; raises :class:`ScopeError` for what is not one."""
    if not isinstance(acl, list):
        raise ScopeError("scopes are a list, written like an external_auth ACL")
    found: list[Grant] = []
    for entry in acl:
        if isinstance(entry, str) and entry:
            if entry.startswith("@"):
                found.append((_KINDS.get(entry, entry), "*", ".*"))
            else:
                found.append(("minion", "*", entry))
        elif isinstance(entry, dict) and entry:
            for key, value in entry.items():
                if not isinstance(key, str) or not key:
                    raise ScopeError("a target or @kind is a non-empty string")
                kind, target = (
                    (_KINDS.get(key, key), "*") if key.startswith("@") else ("minion", key)
                )
                found.extend((kind, target, fun) for fun in _fun_entries(value))
        else:
            raise ScopeError("an entry is a function, an @kind or {target: [functions]}")
    return found


def _shape(pattern: str, regex: bool) -> tuple[str, str]:
    """``(shape, base)``: ``exact`` name, ``dotstar`` (base.*, as a regex), ``star``
    (base*), or ``opaque``."""
    if regex and pattern.endswith(".*") and _SAFE.fullmatch(pattern[:-2]):
        return "dotstar", pattern[:-2]
    if pattern.endswith("*") and _SAFE.fullmatch(pattern[:-1]):
        return "star", pattern[:-1]
    if _SAFE.fullmatch(pattern):
        return "exact", pattern
    return "opaque", pattern


def pattern_covers(wide: str, narrow: str, regex: bool = True) -> bool:
    """Does every name ``narrow`` matches also match ``wide``?

    ``regex``: Salt may read either as a regular expression (function names), where
    ``.`` is any character; targets are globs only.
    """
    if wide == narrow or wide == "*" or (regex and wide == ".*"):
        return True
    wshape, wbase = _shape(wide, regex)
    nshape, nbase = _shape(narrow, regex)
    if nshape == "opaque" or wshape in ("exact", "opaque"):
        return False
    if regex and nshape == "star":
        nbase = nbase[:-1]  # as a regex, 'ab*' is 'a' then any number of 'b'
    if len(nbase) < len(wbase):
        return False
    if wshape == "star" or not regex:
        # a glob prefix: every name narrow matches starts with wbase literally
        return nbase.startswith(wbase) and not (regex and "." in nbase[: len(wbase)])
    # 'wbase.*' as a regex: a '.' in wbase matches anything; elsewhere the same character
    return all(w == "." or (n == w and n != ".") for w, n in zip(wbase, nbase, strict=False))


def _fun_covers(wide: Any, narrow: Any) -> bool:
    if isinstance(wide, dict):
        return wide == narrow  # a restricted grant covers only the same restriction
    name = next(iter(narrow)) if isinstance(narrow, dict) else narrow
    return pattern_covers(wide, name)


def _grant_covers(wide: Grant, narrow: Grant) -> bool:
    return (
        wide[0] == narrow[0]
        and pattern_covers(wide[1], narrow[1], regex=False)
        and _fun_covers(wide[2], narrow[2])
    )


def uncovered(scopes: Any, acl: list[Any]) -> list[Grant]:
    """The scope grants no ACL grant covers (empty: the scopes are a subset)."""
    held = grants(acl) if isinstance(acl, list) else []
    return [g for g in grants(scopes) if not any(_grant_covers(h, g) for h in held)]
