import pluggy
import pytest

from salt_ext_rest import hookimpl
from salt_ext_rest.plugins.manager import BUILTIN_PLUGINS, make_plugin_manager, plugin_names


def test_builtins_are_ordinary_plugins():
    pm = make_plugin_manager(load_entry_points=False)
    assert set(BUILTIN_PLUGINS) <= set(plugin_names(pm))


def test_third_party_hook_runs_before_trylast_builtins():
    class Plugin:
        @hookimpl
        def rest_lowstate_schemas(self, context):
            return {"local": {"required": ["tgt"]}}

    pm = make_plugin_manager([Plugin()], load_entry_points=False)
    results = pm.hook.rest_lowstate_schemas(context=None)
    assert results[0] == {"local": {"required": ["tgt"]}}
    assert "wheel" in results[-1]


def test_unknown_hook_is_rejected_by_check_pending():
    class Typo:
        @hookimpl
        def rest_authenticator(self, context):  # missing "s"
            return []

    with pytest.raises(pluggy.PluginValidationError):
        make_plugin_manager([Typo()], load_entry_points=False)


def test_map_exception_first_result_wins():
    sentinel = object()

    class Mapper:
        @hookimpl
        def rest_map_exception(self, exc):
            return sentinel if isinstance(exc, KeyError) else None

    pm = make_plugin_manager([Mapper()], load_entry_points=False)
    assert pm.hook.rest_map_exception(exc=KeyError("x")) is sentinel
    import salt.exceptions

    mapped = pm.hook.rest_map_exception(exc=salt.exceptions.SaltClientTimeout("t"))
    assert mapped.status == 504
