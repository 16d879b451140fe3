"""Salt's extension loader entry point.

Salt scans a package named by a ``salt.loader`` entry point for *every* loader type
(``auth``, ``resources``, ``modules``...), so pointing it at the whole package would
make it load ``salt_ext_rest/auth/*.py`` as eauth modules. This callable names only
the directories Salt should load from: ``netapi`` (the ``rest_ext`` netapi module)
and ``eauth`` (the ``rest_ext`` eauth module of API keys, loaded as ``auth``).
"""

from __future__ import annotations

import functools
from pathlib import Path


@functools.cache
def _dirs() -> dict[str, list[str]]:
    here = Path(__file__).resolve().parent
    return {"netapi": [str(here / "netapi")], "auth": [str(here / "eauth")]}


def loader_dirs() -> dict[str, list[str]]:
    # Called by every loader build in every Salt process: resolve the paths once.
    return {kind: list(paths) for kind, paths in _dirs().items()}
