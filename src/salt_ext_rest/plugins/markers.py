"""Public pluggy markers: plugin authors import :data:`hookimpl` from ``salt_ext_rest``."""

import pluggy

PROJECT_NAME = "salt_ext_rest"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
