"""A worker's proof, to its own ``rest_ext`` eauth module, that it verified an identity.

An identity rest_ext verified itself (an OIDC/JWT bearer token) gets a Salt token of
the ``rest_ext`` eauth: the worker mints it through Salt's ``LoadAuth`` with a
*proof* as the password. The proof is an HMAC under a secret that lives only in this
process's memory, so only this worker can mint such a token: the master, another
process or a client sending ``eauth: rest_ext`` cannot. It carries the user, its
groups (claims) and a deadline of a minute.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Any

PREFIX = "rxp1."
LIFETIME = 60.0
_SECRET = secrets.token_bytes(32)


def _sign(payload: str) -> str:
    return hmac.new(_SECRET, payload.encode(), hashlib.sha256).hexdigest()


def issue(user: str, groups: list[str]) -> str:
    """A proof that ``user`` (member of ``groups``) was verified just now."""
    body = json.dumps({"user": user, "groups": groups, "until": time.time() + LIFETIME})
    payload = base64.urlsafe_b64encode(body.encode()).decode()
    return f"{PREFIX}{payload}.{_sign(payload)}"


def check(password: Any) -> dict[str, Any] | None:
    """``{user, groups}`` of a valid, unexpired proof made by this process, else ``None``."""
    if not isinstance(password, str) or not password.startswith(PREFIX):
        return None
    payload, _, signature = password[len(PREFIX) :].rpartition(".")
    if not hmac.compare_digest(signature, _sign(payload)):
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(payload.encode()))
    except ValueError:
        return None
    if not isinstance(data, dict) or float(data.get("until", 0)) < time.time():
        return None
    return data
