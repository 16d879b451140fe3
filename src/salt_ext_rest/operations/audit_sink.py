"""Where audit lines go: a file (reopened when logrotate moves it) and/or syslog.

The IOLoop only puts a line on a queue; a :class:`logging.handlers.QueueListener`
thread writes it. The file handler is a :class:`~logging.handlers.WatchedFileHandler`:
it notices the file was renamed or removed and opens a new one before the next line,
so logrotate needs neither ``copytruncate`` nor a signal. Each worker appends whole
lines (``O_APPEND``) to the same file.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import queue
import socket

from salt_ext_rest.config import RestConfig

SYSLOG_IDENT = "salt-api-audit: "
DEFAULT_SYSLOG_SOCKET = "/dev/log"


def syslog_address(address: str) -> str | tuple[str, int]:
    """``/dev/log`` (a Unix socket path) or ``host:port`` (UDP)."""
    if address.startswith("/"):
        return address
    host, _, port = address.rpartition(":")
    return (host or "localhost", int(port or 514))


def _file_handler(path: str) -> logging.Handler:
    handler = logging.handlers.WatchedFileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(message)s"))
    return handler


def _syslog_handler(facility: str, address: str) -> logging.Handler:
    target = syslog_address(address)
    handler = logging.handlers.SysLogHandler(
        address=target,
        facility=logging.handlers.SysLogHandler.facility_names[facility],
        socktype=socket.SOCK_DGRAM if isinstance(target, tuple) else None,
    )
    handler.ident = SYSLOG_IDENT
    handler.setFormatter(logging.Formatter("%(message)s"))
    return handler


class AuditSink:
    """A queue in front of the handlers; :meth:`start` after the fork, :meth:`close` at the end."""

    def __init__(self, handlers: list[logging.Handler]) -> None:
        self.handlers = handlers
        self.queue: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        self.listener = logging.handlers.QueueListener(self.queue, *handlers)
        self._started = False

    def start(self) -> None:
        if not self._started:
            self.listener.start()
            self._started = True

    def write(self, line: str) -> None:
        record = logging.makeLogRecord(
            {"msg": line, "levelno": logging.INFO, "levelname": "INFO", "name": "rest_ext.audit"}
        )
        self.queue.put_nowait(record)

    def close(self) -> None:
        """Write what is queued, stop the thread, close the handlers."""
        if self._started:
            self.listener.stop()
            self._started = False
        for handler in self.handlers:
            handler.close()


def open_sink(config: RestConfig) -> AuditSink | None:
    """The configured sink (``None`` when auditing is off); raises ``OSError`` when the
    file cannot be opened."""
    handlers: list[logging.Handler] = []
    if config.audit_log_file:
        handlers.append(_file_handler(config.audit_log_file))
    if config.audit_syslog:
        address = config.audit_syslog_address or (
            DEFAULT_SYSLOG_SOCKET if os.path.exists(DEFAULT_SYSLOG_SOCKET) else "localhost:514"
        )
        handlers.append(_syslog_handler(config.audit_syslog, address))
    return AuditSink(handlers) if handlers else None
