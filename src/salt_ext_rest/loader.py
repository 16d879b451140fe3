"""Salt's extension loader entry point.

Salt scans a package named by a ``salt.loader`` entry point for *every* loader type
(``auth``, ``resources``, ``modules``...), so pointing it at the whole package would
make it load ``salt_ext_rest/auth/*.py`` as eauth modules. This callable names only
the directory Salt should load from: the ``netapi`` one.
"""

from __future__ import annotations

import functools
from pathlib import Path


@functools.cache
def _netapi_dir() -> str:
    return str(Path(__file__).resolve().parent / "netapi")


def loader_dirs() -> dict[str, list[str]]:
    # Called by every loader build in every Salt process: resolve the path once.
    return {"netapi": [_netapi_dir()]}
