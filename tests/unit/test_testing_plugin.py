"""The public pytest plugin loads in any environment salt-ext-rest is installed in."""

import ast
import importlib
import pathlib
import types

import salt_ext_rest.testing.plugin as plugin

FIND_SPEC = importlib.util.find_spec
TEST_ONLY = {"saltfactories", "pytestshellutils", "requests", "attr", "yaml"}


def top_level_imports(module):
    tree = ast.parse(pathlib.Path(module.__file__).read_text())
    names = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.add((node.module or "").split(".")[0])
    return names


def test_the_entry_point_modules_import_no_test_dependency():
    assert top_level_imports(plugin) <= {"__future__", "importlib", "pytest"}
    for name in ("app_fixtures", "redis", "haproxy"):
        fast = importlib.import_module(f"salt_ext_rest.testing.{name}")
        assert not top_level_imports(fast) & TEST_ONLY, name


class FakePluginManager:
    def __init__(self):
        self.registered = {}

    def has_plugin(self, name):
        return name in self.registered

    def register(self, module, name):
        self.registered[name] = module


def configure(monkeypatch, missing):
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name: None if name in missing else FIND_SPEC(name)
    )
    config = types.SimpleNamespace(pluginmanager=FakePluginManager())
    plugin.pytest_configure(config)
    return set(config.pluginmanager.registered)


def test_daemon_fixtures_only_with_salt_factories(monkeypatch):
    fast = {
        "salt_ext_rest.testing.app_fixtures",
        "salt_ext_rest.testing.redis",
        "salt_ext_rest.testing.haproxy",
    }
    daemons = {"salt_ext_rest.testing.daemon_fixtures", "salt_ext_rest.testing.cluster"}
    assert configure(monkeypatch, {"saltfactories"}) == fast
    assert configure(monkeypatch, {"requests"}) == fast
    assert configure(monkeypatch, set()) == fast | daemons
