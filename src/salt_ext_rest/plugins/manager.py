"""Plugin-manager factory: built-ins first, then third-party entry points."""

from __future__ import annotations

import logging
from collections.abc import Iterable

import pluggy

from salt_ext_rest.plugins import hookspecs
from salt_ext_rest.plugins.markers import PROJECT_NAME

log = logging.getLogger(__name__)

BUILTIN_PLUGINS = (
    "salt_ext_rest.plugins.builtin_auth",
    "salt_ext_rest.plugins.builtin_lowstate",
    "salt_ext_rest.plugins.builtin_errors",
    "salt_ext_rest.plugins.builtin_formatters",
)


def make_plugin_manager(
    extra_plugins: Iterable[object] = (), load_entry_points: bool = True
) -> pluggy.PluginManager:
    """Create a plugin manager with the built-ins, entry-point plugins and ``extra_plugins``."""
    import importlib

    pm = pluggy.PluginManager(PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    for name in BUILTIN_PLUGINS:
        pm.register(importlib.import_module(name), name=name)
    if load_entry_points:
        loaded = pm.load_setuptools_entrypoints(PROJECT_NAME)
        if loaded:
            log.info("rest_ext: loaded %d plugin(s) from entry points", loaded)
    for plugin in extra_plugins:
        pm.register(plugin)
    pm.check_pending()
    return pm


def plugin_names(pm: pluggy.PluginManager) -> list[str]:
    """Names of the registered plugins (for /stats and startup logs)."""
    return sorted(name for name, _ in pm.list_name_plugin() if name)
