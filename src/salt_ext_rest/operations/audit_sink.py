"""Where audit lines go: a file (reopened when logrotate moves it) and/or syslog.

The IOLoop only puts a line on a queue. A writer thread takes what was queued every
:data:`LINGER` seconds (no thread is woken per line) and writes the batch: to the file in one
``write`` (``O_APPEND``: the workers sharing the file never split each other's lines),
after checking that the path still names the file it has open (logrotate renamed or
removed it: a new file is opened, as :class:`logging.handlers.WatchedFileHandler`
does), so logrotate needs neither ``copytruncate`` nor a signal; to syslog one
datagram per line.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import queue
import socket
import threading
import time
from collections.abc import Callable

from salt_ext_rest.config import ConfigError, RestConfig

log = logging.getLogger(__name__)

SYSLOG_IDENT = "salt-api-audit: "
DEFAULT_SYSLOG_SOCKET = "/dev/log"
#: seconds between the writer's turns (a line reaches the file within this time)
LINGER = 0.05
FILE_MODE = 0o600
_STOP = object()

Writer = Callable[[list[str]], None]


class FileWriter:
    """Appends batches of lines to ``path``; reopens it when it was moved or removed."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd = -1
        self.ident: tuple[int, int] = (0, 0)
        self._open()

    def _open(self) -> None:
        self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
        st = os.fstat(self.fd)
        self.ident = (st.st_dev, st.st_ino)

    def _reopen_if_moved(self) -> None:
        try:
            st = os.stat(self.path)
            moved = (st.st_dev, st.st_ino) != self.ident
        except FileNotFoundError:
            moved = True
        if moved:
            self.close()
            self._open()

    def __call__(self, lines: list[str]) -> None:
        self._reopen_if_moved()
        data = "".join(f"{line}\n" for line in lines).encode("utf-8")
        while data:
            data = data[os.write(self.fd, data) :]

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def syslog_address(address: str) -> str | tuple[str, int]:
    """``/dev/log`` (a Unix socket path) or ``host:port`` (UDP)."""
    if address.startswith("/"):
        return address
    host, _, port = address.rpartition(":")
    return (host or "localhost", int(port or 514))


class _SysLogHandler(logging.handlers.SysLogHandler):
    def handleError(self, record: logging.LogRecord) -> None:
        raise  # to the writer, which reports it once (not a traceback per line)


class SyslogWriter:
    """One message per line, at level ``info``, prefixed :data:`SYSLOG_IDENT`. A syslog
    socket that is not there yet is retried at each batch (as ``openlog`` does)."""

    def __init__(self, facility: str, address: str) -> None:
        target = syslog_address(address)
        self.handler = _SysLogHandler(
            address=target,
            facility=logging.handlers.SysLogHandler.facility_names[facility],
            socktype=socket.SOCK_DGRAM if isinstance(target, tuple) else None,
        )
        self.handler.ident = SYSLOG_IDENT
        self.handler.setFormatter(logging.Formatter("%(message)s"))

    def __call__(self, lines: list[str]) -> None:
        for line in lines:
            record = {"msg": line, "levelno": logging.INFO, "levelname": "INFO"}
            self.handler.emit(logging.makeLogRecord(record))

    def close(self) -> None:
        self.handler.close()


class AuditSink:
    """The queue and its writer thread: :meth:`start` after the fork, :meth:`close` last."""

    def __init__(self, writers: list[FileWriter | SyslogWriter]) -> None:
        self.writers = writers
        self.queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self.thread: threading.Thread | None = None
        self._failing: set[int] = set()  # writers whose last write failed

    def start(self) -> None:
        if self.thread is None:
            self.thread = threading.Thread(target=self._run, name="rest_ext-audit", daemon=True)
            self.thread.start()

    def write(self, line: str) -> None:
        self.queue.put_nowait(line)

    def close(self) -> None:
        """Write what is queued, stop the thread, close the file and socket."""
        if self.thread is not None:
            self.queue.put_nowait(_STOP)
            self.thread.join(10)
            self.thread = None
        for writer in self.writers:
            writer.close()

    def _run(self) -> None:
        while True:
            time.sleep(LINGER)  # never woken by a line: queueing one costs the IOLoop nothing
            batch = []
            while True:
                try:
                    batch.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            lines = [line for line in batch if isinstance(line, str)]
            if lines:
                self._write(lines)
            if _STOP in batch:
                return

    def _write(self, lines: list[str]) -> None:
        for writer in self.writers:
            try:
                writer(lines)
            except Exception:  # the disk is full, the daemon gone: say so once, go on
                if id(writer) not in self._failing:
                    log.error("rest_ext: cannot write the audit log", exc_info=True)
                self._failing.add(id(writer))
            else:
                self._failing.discard(id(writer))


def open_sink(config: RestConfig) -> AuditSink | None:
    """The configured sink (``None`` when auditing is off); :class:`ConfigError` when the
    file cannot be opened or the syslog host not resolved (salt-api stops at startup)."""
    writers: list[FileWriter | SyslogWriter] = []
    try:
        if config.audit_log_file:
            writers.append(FileWriter(config.audit_log_file))
        if config.audit_syslog:
            address = config.audit_syslog_address or (
                DEFAULT_SYSLOG_SOCKET if os.path.exists(DEFAULT_SYSLOG_SOCKET) else "localhost:514"
            )
            writers.append(SyslogWriter(config.audit_syslog, address))
    except OSError as exc:
        for writer in writers:
            writer.close()
        key = "audit_syslog_address" if writers else "audit_log_file"
        raise ConfigError(f"'{key}': cannot open: {exc.strerror or exc}") from None
    return AuditSink(writers) if writers else None
