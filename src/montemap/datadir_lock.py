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


#: Entries a montemap data directory holds (``README.md``, "Configuration"); a directory
#: holding any of them is taken for one.
DATA_DIR_ENTRIES = frozenset({"buckets", "runs", "logs", "lambda", "lambda-run", "portfolio.json"})


class ForeignDirectory(MontemapError):
    """A ``--data-dir`` that holds other files and nothing of montemap's."""


def refuse_foreign_directory(path: Path) -> None:
    """Refuse (one line) a ``--data-dir`` that is not empty but holds nothing a montemap data
    directory holds (``montemap.db``, ``buckets/``, ...): a mistyped ``--data-dir ~`` or
    ``--data-dir .`` would fill someone else's folder with montemap's files, and write its
    ``portfolio.json``, ``logs/`` and ``runs/`` among theirs. A new or empty one is used."""
    try:
        names = [entry.name for entry in os.scandir(path)]
    except FileNotFoundError:
        return
    except NotADirectoryError:
        raise ForeignDirectory(f"--data-dir {str(path)!r} is not a directory") from None
    if not names or any(n in DATA_DIR_ENTRIES or n.startswith("montemap.") for n in names):
        return
    shown = ", ".join(sorted(names)[:3]) + (", ..." if len(names) > 3 else "")
    raise ForeignDirectory(
        f"--data-dir {str(path)!r} holds other files ({shown}) and no montemap data "
        "(montemap.db, buckets/): give a new or empty directory, or an existing data directory"
    )
