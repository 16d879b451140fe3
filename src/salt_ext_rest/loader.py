"""Salt's extension loader entry point.

Salt scans a package named by a ``salt.loader`` entry point for *every* loader type
(``auth``, ``resources``, ``modules``...), so pointing it at the whole package would
make it load ``salt_ext_rest/auth/*.py`` as eauth modules. This callable names only
the directory Salt should load from: the ``netapi`` one.
"""

from __future__ import annotations

from pathlib import Path


def loader_dirs() -> dict[str, list[str]]:
    return {"netapi": [str(Path(__file__).resolve().parent / "netapi")]}
