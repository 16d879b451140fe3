"""What an eauth ACL allows, read without Salt: the notion of an unrestricted caller.

A caller with unrestricted permissions may do anything through Salt already, so the
extra limits rest_ext puts on restricted callers (a caller-chosen ``jid``, the event
streams' visibility rules) do not apply to them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

#: a function or target pattern that matches everything
EVERYTHING = ("*", ".*")
#: the three kinds of rights an unrestricted ACL holds, and how each may be written
_KINDS = {
    "functions": EVERYTHING,
    "@runner": ("@runner", "@runners"),
    "@wheel": ("@wheel", "@wheels"),
}


def _all_of(value: Any) -> bool:
    """``'.*'``, or a list naming ``'.*'`` (argument restrictions are dicts: not all)."""
    values = value if isinstance(value, list) else [value]
    return any(v in EVERYTHING for v in values)


def _kind(entry: Any) -> str | None:
    """The kind of right ``entry`` grants without restriction, or ``None``."""
    if isinstance(entry, dict) and len(entry) == 1:
        ((key, value),) = entry.items()
        entry = key if _all_of(value) else None
    for kind, names in _KINDS.items():
        if entry in names:
            return kind
    return None


def is_unrestricted(auth_list: Iterable[Any] | None) -> bool:
    """Does the ACL allow every function on every minion, every runner and every wheel?

    That is: a ``'.*'`` (or ``'*'``) entry, or a ``{'*' or '.*': ['.*']}`` target entry;
    and ``'@runner'`` and ``'@wheel'`` (or ``'@runners'``, ``'@wheels'``), bare or as
    ``{'@runner': ['.*']}``; none with argument restrictions. SaltGUI's usual admin
    ACL, ``['.*', '@runner', '@wheel', '@jobs']``, qualifies.
    """
    return {_kind(entry) for entry in auth_list or ()} >= set(_KINDS)
