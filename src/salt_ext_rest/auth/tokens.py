"""Salt token format: checked before any token-store lookup, so a path-like value
(``../../etc/x``) never reaches Salt's file-based token store."""

from __future__ import annotations

import hashlib
import re

from salt_ext_rest.backend.saltutils import DEFAULT_HASH_TYPE


def token_pattern(hash_type: str | None) -> re.Pattern[str]:
    """The exact form of a token minted under ``hash_type``: hex of the digest's length."""
    length = len(getattr(hashlib, hash_type or DEFAULT_HASH_TYPE)().hexdigest())
    return re.compile(rf"[0-9a-fA-F]{{{length}}}")


class TokenFormat:
    """Checks token strings against the master's ``hash_type``."""

    def __init__(self, hash_type: str | None) -> None:
        self._pattern = token_pattern(hash_type)
        self.url_pattern = self._pattern.pattern

    def is_valid(self, token: object) -> bool:
        return isinstance(token, str) and self._pattern.fullmatch(token) is not None
