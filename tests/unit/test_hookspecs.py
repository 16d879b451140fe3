"""Every hook rest_ext offers is documented and implemented by the example plugin.

The hook names are read from :mod:`salt_ext_rest.plugins.hookspecs`; the example plugin
(``tests/plugin_example``, driven through a real salt-api by the integration tests) is
loaded from its source file, as pluggy would see it once installed.
"""

import importlib.util
import inspect
import pathlib
import re
import sys

import pytest

from salt_ext_rest.plugins import hookspecs
from salt_ext_rest.plugins.markers import PROJECT_NAME

ROOT = pathlib.Path(__file__).resolve().parents[2]
PLUGIN_SRC = ROOT / "tests" / "plugin_example" / "src"


def hookspec_names():
    return sorted(
        name
        for name, func in inspect.getmembers(hookspecs, inspect.isfunction)
        if hasattr(func, f"{PROJECT_NAME}_spec")
    )


@pytest.fixture(scope="module")
def example_plugin():
    sys.path.insert(0, str(PLUGIN_SRC))
    try:
        spec = importlib.util.find_spec("rest_ext_example_plugin.plugin")
        assert spec is not None and spec.origin.startswith(str(PLUGIN_SRC))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(PLUGIN_SRC))


def test_hookspecs_are_found():
    names = hookspec_names()
    assert "rest_authenticators" in names and len(names) >= 7
    assert all(name.startswith("rest_") for name in names)


def test_every_hookspec_is_documented():
    doc = (ROOT / "docs" / "plugins.rst").read_text(encoding="utf-8")
    undocumented = [n for n in hookspec_names() if not re.search(rf"^``{n}\(", doc, re.M)]
    assert undocumented == []


def test_the_example_plugin_implements_every_hookspec(example_plugin):
    implemented = {
        name
        for name, func in inspect.getmembers(example_plugin, inspect.isfunction)
        if hasattr(func, f"{PROJECT_NAME}_impl")
    }
    assert set(hookspec_names()) - implemented == set()
