"""What every paged resource shares: ``limit``, the opaque ``cursor`` and the
``next`` link (``GET /jobs``, ``GET /minions``, ``GET /keys`` with paging parameters).

A cursor is the last item of the page it follows (a jid, a minion id), tagged with
the resource it belongs to and base64url-encoded; clients pass it back untouched.
"""

from __future__ import annotations

import base64
import binascii
import re
import urllib.parse
from collections.abc import Iterable, Mapping

from salt_ext_rest.errors import BadRequest

Arguments = Mapping[str, list[bytes]]
MAX_LIMIT = 500
_ITEM = re.compile(r"^[^\x00-\x1f\x7f]{1,512}$")


def one(arguments: Arguments, name: str) -> str | None:
    """The last value of query parameter ``name`` (``None``: absent or empty)."""
    values = arguments.get(name)
    if not values:
        return None
    try:
        return values[-1].decode() or None
    except UnicodeDecodeError:
        raise BadRequest(f"{name}: not UTF-8", path=name) from None


def limit(arguments: Arguments, default: int) -> int:
    raw = one(arguments, "limit") or str(default)
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise BadRequest(f"limit: a number from 1 to {MAX_LIMIT}", path="limit")
    return int(raw)


def encode_cursor(kind: str, value: str) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{value}".encode()).decode().rstrip("=")


def decode_cursor(kind: str, arguments: Arguments) -> str | None:
    """The item the page starts after (``None``: the first page); 400 when the
    cursor is not one this resource gave."""
    cursor = one(arguments, "cursor")
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raw = ""
    tag, _, value = raw.partition(":")
    if tag != kind or not _ITEM.match(value):
        raise BadRequest("cursor: not a cursor this resource gave", path="cursor")
    return value


def next_url(
    prefix: str, path: str, arguments: Arguments, names: Iterable[str], cursor: str
) -> str:
    """``path`` below ``prefix`` with the same parameters (of ``names``) and ``cursor``."""
    keep = set(names) - {"cursor"}
    query = [(k, v[-1].decode()) for k, v in arguments.items() if k in keep and v]
    query.append(("cursor", cursor))
    return f"{prefix.rstrip('/')}{path}?{urllib.parse.urlencode(sorted(query))}"
