"""Sphinx configuration for salt-ext-rest.

Build:  python -m sphinx -W -b html docs docs/_build/html   (or: nox -s docs)

No extension here needs the network. The local extension ``openapi_reference``
(docs/_ext) imports the package to render the HTTP API reference from the OpenAPI
document it generates: build the docs where salt-ext-rest is installed.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent / "_ext"))


def _project_version() -> str:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    match = re.search(r'^version\s*=\s*"([^"]+)"', text, re.MULTILINE)
    return match.group(1) if match else "0.0.0"


project = "salt-ext-rest"
author = "salt-ext-rest developers"
copyright = "salt-ext-rest developers"
release = _project_version()
version = ".".join(release.split(".")[:2])

extensions: list[str] = ["openapi_reference"]
templates_path: list[str] = []
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
root_doc = "index"
language = "en"
highlight_language = "yaml"

html_theme = "alabaster"
html_title = f"salt-ext-rest {release}"
html_static_path: list[str] = []
html_theme_options = {
    "description": "A production HTTP API for the Salt master (netapi module rest_ext).",
    "fixed_sidebar": False,
}
