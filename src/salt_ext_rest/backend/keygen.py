"""``POST /keys``: generate a minion key pair, accept its public key, return both as a tar.

Salt's ``wheel`` client would run ``key.gen_accept`` in the master and fire its
return, the *private key* included, on the event bus (``salt/wheel/<jid>/ret``) for
every event listener to read. Here the caller is authorized first (eauth ACL for the
wheel function, as the master would), then the wheel function itself is called in
this process: nothing is fired and nothing is logged. Blocking; runs on an executor.
"""

from __future__ import annotations

import io
import re
import tarfile
import time
from typing import Any

import salt.loader

from salt_ext_rest.backend.threadlocal import per_thread

FUN = "key.gen_accept"


def gen_accept(opts: dict[str, Any], mid: str, keysize: int, force: bool) -> dict[str, str]:
    """``{"pub", "priv"}``, or ``{}`` when the minion already has an accepted key."""
    wheel = per_thread(opts, "wheels", salt.loader.wheels)
    return wheel[FUN](id_=mid, keysize=keysize, force=force) or {}


def _member(name: str, text: str, mode: int) -> tuple[tarfile.TarInfo, io.BytesIO]:
    data = text.encode("utf-8")
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, int(time.time())
    return info, io.BytesIO(data)


def tarball(keys: dict[str, str]) -> bytes:
    """A tar with ``minion.pem`` (mode 0600) and ``minion.pub`` (0644), as rest_cherrypy's."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.addfile(*_member("minion.pem", keys["priv"], 0o600))
        tar.addfile(*_member("minion.pub", keys["pub"], 0o644))
    return buffer.getvalue()


def filename(mid: str) -> str:
    return "saltkeys-{}.tar".format(re.sub(r"[^A-Za-z0-9._-]", "_", mid))
