"""One server per data directory.

Two servers on one data directory would both resume its running executions, both
run its worker service and both hand out its activity tasks: work done twice, a
worker service scaled by one and stopped by the other. A server therefore holds an
exclusive ``flock`` on ``montemap.lock`` in its data directory while it runs; a
second one is refused in one line naming the holder's process id.

The lock belongs to the open file, not to the file's existence: a server killed
with SIGKILL releases it as it dies (no stale lock to clean up), and the file
itself is left in place. The descriptor is close-on-exec, so worker and function
processes the server starts never hold it.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from montemap.errors import MontemapError

LOCK_FILE = "montemap.lock"


class DataDirInUse(MontemapError):
    """Another montemap server holds this data directory."""


class DataDirLock:
    """The held lock of one data directory; :meth:`release` (or the process's end) frees it."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_FILE
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise DataDirInUse(
                f"{data_dir} is in use by another montemap server (pid {holder}): stop it, "
                "or give this one another --data-dir"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd: int | None = fd

    def release(self) -> None:
        """Free the lock (idempotent)."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)
