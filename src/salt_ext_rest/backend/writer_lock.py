"""One writer per job index: an exclusive ``flock`` on ``<index>.writer``.

The lock is taken without blocking; whoever does not get it asks again every few
seconds. The kernel releases it when its holder's process dies (a SIGKILL too), so
a dead writer's place is taken at the next try. The holder writes its pid into the
file (for ``/stats`` and for an operator: ``cat <index>.writer``).

A lock taken by ``flock`` belongs to the open file, which a ``fork`` shares: a child
forked by the holder (without ``exec``) would keep it after the holder died. Each
child closes its copy right after the fork (closing a copy releases nothing while
the holder keeps its own).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import weakref

_held: weakref.WeakSet[WriterLock] = weakref.WeakSet()


def _close_in_child() -> None:
    for lock in list(_held):
        lock.forget()


os.register_at_fork(after_in_child=_close_in_child)


class WriterLock:
    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def take(self) -> bool:
        """Hold the lock if it is free (never waits). True while this object holds it;
        when the lock file was removed or replaced meanwhile, it is taken again on the
        file now at ``path`` (else two writers would each hold a lock)."""
        if self._fd is not None:
            if self._same_file(self._fd):
                return True
            self.release()
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        _held.add(self)
        return True

    def release(self) -> None:
        """Let another writer take over (the pid in the file is cleared first)."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            self.forget()

    def forget(self) -> None:
        """Close this process's copy without clearing the file (a forked child)."""
        fd, self._fd = self._fd, None
        _held.discard(self)
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    def holder(self) -> int | None:
        """The pid the holder wrote, if any (it may have died since)."""
        try:
            with open(self.path, encoding="ascii") as handle:
                text = handle.read().strip()
        except (OSError, ValueError):
            return None
        return int(text) if text.isdigit() else None

    def _same_file(self, fd: int) -> bool:
        try:
            now = os.stat(self.path)
        except FileNotFoundError:
            return False
        mine = os.fstat(fd)
        return (now.st_dev, now.st_ino) == (mine.st_dev, mine.st_ino)
