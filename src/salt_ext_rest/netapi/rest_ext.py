"""
The ``rest_ext`` netapi module: Salt's loader finds it, salt-api starts it.

This module stays thin: it checks that ``rest_ext`` is configured, validates that
configuration, including the names plugins provide (a bad one stops salt-api with
one clear log line), and hands over to :mod:`salt_ext_rest.server`.
"""

import logging
from typing import Any

# Injected by Salt's loader.
__opts__: dict[str, Any]

log = logging.getLogger(__name__)

__virtualname__ = "rest_ext"


def __virtual__():
    if __virtualname__ not in __opts__:
        return False, "rest_ext is not configured in the master config"
    from salt_ext_rest.assembly import check_plugins
    from salt_ext_rest.config import ConfigError, load_config

    try:
        check_plugins(__opts__, load_config(__opts__))
    except ConfigError as exc:
        log.critical("rest_ext: invalid configuration: %s", exc)
        # Stop salt-api itself (not only this module): a misconfigured API must not
        # start half-way or be restarted in a loop by salt-api's process manager.
        raise SystemExit(78) from None
    return __virtualname__


def start():
    """Serve the API until salt-api stops this process."""
    from salt_ext_rest.server import serve

    serve(__opts__)
