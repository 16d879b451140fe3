"""salt-ext-rest: the ``rest_ext`` HTTP API for a Salt master."""

from salt_ext_rest.plugins.markers import hookimpl

__version__ = "0.1.0"
__all__ = ["__version__", "hookimpl"]
