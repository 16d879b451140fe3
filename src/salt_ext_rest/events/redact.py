"""Strip secrets from event data before any subscriber sees it.

The bus redacts each event once, before the replay buffer, the formatted view, every
formatter and every transport, so no stream (the admin's included) carries them.

A key is secret when its name (compared case-insensitively) is one of
:data:`SECRET_KEYS`, when one of its words (split at ``-``, ``_``, ``.`` and spaces)
is one of :data:`SECRET_WORDS` (``X-Gitlab-Token``, ``X-Hub-Signature-256``,
``client_secret``), or when it matches an extra shell-style glob of the
``event_redact_keys`` setting. Any string holding a PEM private key is replaced too,
whatever its key: private keys never leave the API process.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from typing import Any

SECRET_KEYS = frozenset(
    {"key", "token", "password", "authorization", "x-auth-token", "cookie", "set-cookie",
     "proxy-authorization", "passwd", "eauth_password", "priv", "ssh_passwd",
     "ssh_priv_passwd", "secret", "sharedsecret"}
)  # fmt: skip
# Whole words only, so ``author``, ``eauth``, ``tokens`` or ``jid`` stay readable.
SECRET_WORDS = frozenset(
    {"token", "secret", "signature", "auth", "authorization", "password", "passwd", "apikey"}
)
_WORDS = re.compile(r"[-_.\s]+")
_PEM_PRIVATE = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----")
REDACTED = "<redacted>"


class Redactor:
    """Replaces secret values in event data; ``extra`` adds shell-style key globs."""

    def __init__(self, extra: Iterable[str] = ()) -> None:
        self.extra = tuple(glob.lower() for glob in extra)
        self._verdicts: dict[str, bool] = {}

    def secret(self, name: str) -> bool:
        verdict = self._verdicts.get(name)
        if verdict is None:
            lowered = name.lower()
            verdict = (
                lowered in SECRET_KEYS
                or any(word in SECRET_WORDS for word in _WORDS.split(lowered))
                or any(fnmatch.fnmatchcase(lowered, glob) for glob in self.extra)
            )
            if len(self._verdicts) < 65536:  # key names repeat; cache the answers
                self._verdicts[name] = verdict
        return verdict

    def __call__(self, value: Any) -> Any:
        """A copy of ``value`` with every secret value replaced, at any depth."""
        if isinstance(value, dict):
            return {
                k: REDACTED if isinstance(k, str) and self.secret(k) else self(v)
                for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return [self(item) for item in value]
        if isinstance(value, str) and "PRIVATE KEY-----" in value and _PEM_PRIVATE.search(value):
            return REDACTED
        return value


redact = Redactor()
