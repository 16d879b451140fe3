"""Salt's own parsing rules, for modules outside ``backend/`` (no I/O, no Salt objects)."""

from __future__ import annotations

from typing import Any

import salt.config
import salt.utils.args

#: the digest Salt names tokens with when the master sets no ``hash_type``
DEFAULT_HASH_TYPE: str = salt.config.DEFAULT_HASH_TYPE


def yamlify_arg(value: Any) -> Any:
    """A command-line argument as Salt's CLI reads it (YAML where it parses)."""
    return salt.utils.args.yamlify_arg(value)
