"""``log_access_file`` and ``log_error_file``: the API's own log files (rest_cherrypy's keys).

* access file: one line per request (``salt_ext_rest.access``): status, method, URI
  with tokens redacted, client address and duration;
* error file: the API's own messages (start, stop, warnings, errors with tracebacks)
  and Tornado's (bad requests, TLS handshake failures), without access lines.

Both files pass every line through :class:`~salt_ext_rest.logredact.RedactingFilter`,
so a token never lands in them. The files are reopened when logrotate moves them.
Records still reach Salt's own log as before.
"""

from __future__ import annotations

import logging
import logging.handlers

from salt_ext_rest.config import RestConfig
from salt_ext_rest.logredact import RedactingFilter

ACCESS_LOGGER = "salt_ext_rest.access"
ERROR_LOGGERS = ("salt_ext_rest", "tornado.application", "tornado.general")
ACCESS_FORMAT = "%(asctime)s [%(process)d] %(message)s"
ERROR_FORMAT = "%(asctime)s [%(process)d] %(levelname)s %(name)s: %(message)s"


class _NotAccess(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.name.startswith(ACCESS_LOGGER)


def _handler(path: str, fmt: str, level: int) -> logging.Handler:
    handler = logging.handlers.WatchedFileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(fmt))
    handler.setLevel(level)
    handler.addFilter(RedactingFilter())
    return handler


def _lower_level(logger: logging.Logger, level: int) -> None:
    """Let ``level`` records be created even if Salt's configured level is higher."""
    if logger.getEffectiveLevel() > level:
        logger.setLevel(level)


def install(config: RestConfig) -> list[logging.Handler]:
    """Attach the configured file handlers (raises ``OSError`` if a file cannot be opened)."""
    handlers: list[logging.Handler] = []
    if config.log_access_file:
        access = _handler(config.log_access_file, ACCESS_FORMAT, logging.INFO)
        logger = logging.getLogger(ACCESS_LOGGER)
        _lower_level(logger, logging.INFO)
        logger.addHandler(access)
        handlers.append(access)
    if config.log_error_file:
        errors = _handler(config.log_error_file, ERROR_FORMAT, logging.INFO)
        errors.addFilter(_NotAccess())
        for name in ERROR_LOGGERS:
            logger = logging.getLogger(name)
            _lower_level(logger, logging.INFO if name == "salt_ext_rest" else logging.WARNING)
            logger.addHandler(errors)
        handlers.append(errors)
    return handlers
