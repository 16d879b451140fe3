"""The API key store: one JSON record per key under ``<cachedir>/rest_ext/apikeys``.

Read by salt-api workers and by the master's ``rest_ext`` eauth module (every master
of a cluster shares the cachedir). Only a scrypt hash of the secret is stored.
Files are 0600 in a 0700 directory; writes are atomic (temp file + rename).
Layout: ``<id>.json`` the record, ``<id>.used`` the last-used time (written in
batches), ``<id>.tokens/<token>`` the Salt tokens minted for the key (revoked with it).
Everything here blocks: callers run it on an executor.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

PREFIX = "sre_"
#: the eauth module whose Salt tokens back API keys (salt_ext_rest/eauth/rest_ext.py)
EAUTH = "rest_ext"
#: ``sre_<16 hex id>_<secret>``
KEY_RE = re.compile(r"sre_([0-9a-f]{16})_([A-Za-z0-9_-]{32,64})")
ID_RE = re.compile(r"[0-9a-f]{16}")
#: scrypt cost: about 16 MiB and tens of milliseconds per verification
KDF = {"n": 2**14, "r": 8, "p": 1}


def store_dir(opts: dict[str, Any]) -> Path:
    return Path(opts.get("cachedir") or "/var/cache/salt/master") / "rest_ext" / "apikeys"


def parse_key(key: object) -> tuple[str, str] | None:
    """``(id, secret)`` of a well-formed key, else ``None``."""
    if not isinstance(key, str):
        return None
    match = KEY_RE.fullmatch(key)
    return (match.group(1), match.group(2)) if match else None


def _hash(secret: str, salt: bytes, params: dict[str, int]) -> str:
    return hashlib.scrypt(
        secret.encode(), salt=salt, n=params["n"], r=params["r"], p=params["p"], maxmem=2**26
    ).hex()


def new_key() -> tuple[str, str, str]:
    """``(key, id, secret)`` of a new random key."""
    kid, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
    return f"{PREFIX}{kid}_{secret}", kid, secret


def hashed(secret: str) -> dict[str, Any]:
    salt = secrets.token_bytes(16)
    return {"kdf": {"alg": "scrypt", **KDF, "salt": salt.hex()}, "hash": _hash(secret, salt, KDF)}


def secret_matches(record: dict[str, Any], secret: str) -> bool:
    kdf = record.get("kdf") or {}
    if kdf.get("alg") != "scrypt":
        return False
    computed = _hash(secret, bytes.fromhex(kdf["salt"]), kdf)
    return hmac.compare_digest(computed, str(record.get("hash", "")))


def is_live(record: dict[str, Any] | None, now: float | None = None) -> bool:
    """A record that exists and has not expired."""
    return record is not None and float(record.get("expires", 0)) > (now or time.time())


class KeyStore:
    def __init__(self, opts: dict[str, Any]) -> None:
        self.root = store_dir(opts)

    def _ensure(self) -> None:
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)

    def _write(self, path: Path, text: str) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".tmp-")  # mode 0600
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(text)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    # -- records ------------------------------------------------------------------
    def create(self, record: dict[str, Any], secret: str) -> dict[str, Any]:
        self._ensure()
        full = {**record, **hashed(secret)}
        self._write(self.root / f"{record['id']}.json", json.dumps(full))
        return full

    def get(self, kid: str) -> dict[str, Any] | None:
        if not ID_RE.fullmatch(kid):
            return None
        try:
            record = json.loads((self.root / f"{kid}.json").read_text())
        except (OSError, ValueError):
            return None
        return record if isinstance(record, dict) else None

    def verify(self, key: str) -> dict[str, Any] | None:
        """The live record of ``key`` if its secret matches (pays the KDF), else ``None``."""
        parsed = parse_key(key)
        if parsed is None:
            return None
        record = self.get(parsed[0])
        if record is None or not is_live(record) or not secret_matches(record, parsed[1]):
            return None
        return record

    def records(self) -> list[dict[str, Any]]:
        if not self.root.is_dir():
            return []
        found = (self.get(p.stem) for p in sorted(self.root.glob("*.json")))
        return [record for record in found if record]

    def delete(self, kid: str) -> list[str]:
        """Remove the record (the key stops working everywhere at once); return the
        Salt tokens minted for it, for the caller to revoke."""
        (self.root / f"{kid}.json").unlink(missing_ok=True)
        (self.root / f"{kid}.used").unlink(missing_ok=True)
        tokens = self.tokens(kid)
        shutil.rmtree(self.root / f"{kid}.tokens", ignore_errors=True)
        return tokens

    # -- Salt tokens minted for a key ----------------------------------------------
    def add_token(self, kid: str, token: str) -> None:
        directory = self.root / f"{kid}.tokens"
        directory.mkdir(mode=0o700, exist_ok=True)
        (directory / token).touch(mode=0o600)

    def tokens(self, kid: str) -> list[str]:
        directory = self.root / f"{kid}.tokens"
        return sorted(p.name for p in directory.iterdir()) if directory.is_dir() else []

    # -- last used -----------------------------------------------------------------
    def last_used(self, kid: str) -> float | None:
        try:
            return float((self.root / f"{kid}.used").read_text())
        except (OSError, ValueError):
            return None

    def mark_used(self, used: dict[str, float]) -> None:
        """Write a batch of last-used times (never earlier than what is there)."""
        for kid, stamp in used.items():
            if (self.root / f"{kid}.json").exists():
                latest = max(stamp, self.last_used(kid) or 0.0)
                self._write(self.root / f"{kid}.used", repr(latest))
