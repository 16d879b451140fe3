"""Nox sessions for salt-ext-rest.

    nox                 # lint, mypy, tests, docs
    nox -s unit         # unit tests only
    nox -s tests -- -k auth -x   # extra args go to pytest

Every session installs with ``-c requirements/constraints.txt``, the same pins
that ``scripts/test`` uses (scripts/test is what CI runs; these sessions mirror
its steps one by one). Sessions run on the interpreter nox itself runs on.
"""

from __future__ import annotations

from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
CONSTRAINTS = str(ROOT / "requirements" / "constraints.txt")
BUILD_CONSTRAINTS = str(ROOT / "requirements" / "build-constraints.txt")

nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["lint", "mypy", "tests", "docs"]

# Same pytest flags as scripts/test.
PYTEST_FLAGS = ["-p", "no:cacheprovider", "-ra", "--timeout=300"]


def _install_project(session: nox.Session, extras: str, *requirements: str) -> None:
    """pip install -e .[extras] (+ requirement files) with the pinned versions."""
    # A pip that knows --build-constraint (pins setuptools for building the project).
    session.install("-c", CONSTRAINTS, "--upgrade", "pip")
    args = ["-c", CONSTRAINTS, "--build-constraint", BUILD_CONSTRAINTS, "-e", f".[{extras}]"]
    for req in requirements:
        args += ["-r", req]
    session.install(*args)


def _pytest(session: nox.Session, default_paths: list[str]) -> None:
    args = session.posargs
    # Explicit test paths on the command line replace the default directories.
    names_path = any(not a.startswith("-") and (ROOT / a.split("::", 1)[0]).exists() for a in args)
    paths = [] if names_path else [p for p in default_paths if (ROOT / p).is_dir()]
    # Exit status 5 = no tests collected: not a failure (as in scripts/test).
    session.run("pytest", *PYTEST_FLAGS, *paths, *args, success_codes=[0, 5])


@nox.session
def tests(session: nox.Session) -> None:
    """Unit and integration tests (what scripts/test runs after lint and mypy)."""
    _install_project(session, "tests,docs", "requirements/tests.txt")
    _pytest(session, ["tests/unit", "tests/functional", "tests/integration"])


@nox.session
def unit(session: nox.Session) -> None:
    """Unit tests only."""
    _install_project(session, "tests,docs", "requirements/tests.txt")
    _pytest(session, ["tests/unit", "tests/functional"])


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check (formatting is not enforced)."""
    session.install("-c", CONSTRAINTS, "ruff")
    session.run("ruff", "check", "src", "tests", *session.posargs)


@nox.session
def mypy(session: nox.Session) -> None:
    """mypy with the [tool.mypy] settings of pyproject.toml."""
    _install_project(session, "dev")
    session.run("mypy", *session.posargs)


@nox.session
def docs(session: nox.Session) -> None:
    """Build the Sphinx docs with warnings as errors (into docs/_build/html)."""
    # the HTTP API reference is rendered from the package's own OpenAPI document
    session.install("-c", CONSTRAINTS, "-r", "requirements/docs.txt", ".")
    session.run(
        "python",
        "-m",
        "sphinx",
        "-W",
        "--keep-going",
        "-b",
        "html",
        "docs",
        "docs/_build/html",
        *session.posargs,
    )


@nox.session
def changelog(session: nox.Session) -> None:
    """Preview the next release notes from changelog/ fragments (towncrier --draft)."""
    session.install("-c", CONSTRAINTS, "towncrier")
    version = session.posargs[0] if session.posargs else "unreleased"
    session.run("towncrier", "build", "--draft", "--version", version)
