"""
The pytest plugin (entry point ``pytest11``), loaded by pytest wherever salt-ext-rest
is installed. It imports only pytest and the standard library: the fast fixtures need
nothing beyond salt-ext-rest itself; the daemon fixtures are registered only when
pytest-salt-factories and requests are installed (``salt-ext-rest[testing]``).
Disable it with ``-p no:salt_ext_rest``.
"""

from __future__ import annotations

import importlib
import importlib.util

import pytest

#: what the daemon fixtures import.
DAEMON_REQUIREMENTS = ("saltfactories", "requests")


def daemons_available() -> bool:
    """Are pytest-salt-factories and requests importable?"""
    return all(importlib.util.find_spec(name) is not None for name in DAEMON_REQUIREMENTS)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    modules = [
        "salt_ext_rest.testing.app_fixtures",
        "salt_ext_rest.testing.redis",
        "salt_ext_rest.testing.haproxy",
    ]
    if daemons_available():
        modules += ["salt_ext_rest.testing.daemon_fixtures", "salt_ext_rest.testing.cluster"]
    for name in modules:
        if not config.pluginmanager.has_plugin(name):
            config.pluginmanager.register(importlib.import_module(name), name)
