"""Keep tokens out of every log line the API process writes.

Salt's own code logs token values in some paths (for example when it drops an
expired token); a filter on the process's log handlers rewrites any Salt-token-like
hex run before a record is written.
"""

from __future__ import annotations

import logging
import re

_TOKENISH = re.compile(r"(?<![0-9A-Za-z])[0-9a-fA-F]{32,}(?![0-9A-Za-z])")
REDACTED = "<redacted>"


def redact_text(text: str) -> str:
    return _TOKENISH.sub(REDACTED, text)


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to the handler
            return True
        redacted = redact_text(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def install(logger: logging.Logger | None = None) -> None:
    """Add the filter to every handler of ``logger`` (the root logger by default)."""
    logger = logger or logging.getLogger()
    for handler in logger.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
