"""The Sphinx docs build without warnings, and changelog fragments are well named."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
CHANGELOG = ROOT / "changelog"


def test_sphinx_docs_build_without_warnings(tmp_path: Path) -> None:
    pytest.importorskip(
        "sphinx", reason="Sphinx is not installed (pip install -r requirements/docs.txt)"
    )
    cmd = [
        sys.executable,
        "-m",
        "sphinx",
        "-W",
        "--keep-going",
        "-q",
        "-b",
        "html",
        "-d",
        str(tmp_path / "doctrees"),
        str(DOCS),
        str(tmp_path / "html"),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, (
        f"sphinx-build failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    )
    assert (tmp_path / "html" / "index.html").is_file()
    for page in ("configuration", "plugins", "changelog"):
        assert (tmp_path / "html" / f"{page}.html").is_file(), page


def _towncrier_config() -> dict:
    tomllib = pytest.importorskip("tomllib", reason="needs Python 3.11+ (tomllib)")
    with (ROOT / "towncrier.toml").open("rb") as fh:
        return tomllib.load(fh)["tool"]["towncrier"]


def test_changelog_fragments_are_well_named() -> None:
    config = _towncrier_config()
    assert config["directory"] == "changelog"
    types = [t["directory"] for t in config["type"]]
    ignored = set(config.get("ignore", []))
    # <issue>.<type>[.<counter>].md, where <issue> is a number or "+slug" (no issue).
    pattern = re.compile(
        r"^(?:\d+|\+[A-Za-z0-9_-]+)\.(?P<type>" + "|".join(map(re.escape, types)) + r")"
        r"(?:\.\d+)?\.md$"
    )
    fragments = [p for p in CHANGELOG.iterdir() if p.name not in ignored]
    bad = [p.name for p in fragments if not pattern.match(p.name)]
    assert not bad, (
        f"badly named changelog fragments {bad}: use changelog/<issue>.<type>.md "
        f"with <type> one of {types} (see changelog/README.md)"
    )
    empty = [p.name for p in fragments if not p.read_text(encoding="utf-8").strip()]
    assert not empty, f"empty changelog fragments: {empty}"
