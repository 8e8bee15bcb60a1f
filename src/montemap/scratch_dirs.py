"""Temporary directories that a killed process does not leave behind for good.

A reduction spills to a temporary directory and writes a run's files (hundreds of MB at
500,000 loans) into another before publishing them. ``tempfile.TemporaryDirectory``
removes its directory when the ``with`` block ends, which a process killed with SIGKILL
(an out-of-memory kill, a stopped server's function process) never reaches: every such
kill left its directory in the temporary folder until the machine was cleaned by hand.

:func:`owned_temp_dir` marks its directory as held: an exclusive ``flock`` on an
``.owner`` file inside it, kept while the block runs (the lock belongs to the open file,
so it ends with the process however it ends, and a forked helper sharing the descriptor
holds it too; close-on-exec, so no program started by it does). Before making its own,
it removes the directories of the same prefix that nobody holds any more: their
``.owner`` lock is free. A directory with no ``.owner`` file (one a version before this
one left, or one being made this instant) is removed only once it is older than
:data:`UNMARKED_MAX_AGE_S`. Only directories of this user are looked at, never links.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)

OWNER_FILE = ".owner"
#: A directory of ours without an ``.owner`` file is left alone this long (seconds).
UNMARKED_MAX_AGE_S = 24 * 3600.0


@contextmanager
def owned_temp_dir(prefix: str, *, root: Path | None = None) -> Iterator[str]:
    """A new temporary directory (its path) named ``prefix...`` in ``root`` (the system's
    temporary folder by default), removed with its contents when the block ends; the
    abandoned ones of the same prefix are removed first (see the module)."""
    where = Path(root) if root is not None else Path(tempfile.gettempdir())
    sweep_abandoned(where, prefix)
    name = tempfile.mkdtemp(prefix=prefix, dir=where)
    try:
        fd = _held_owner_file(name)
    except BaseException:
        shutil.rmtree(name, ignore_errors=True)
        raise
    try:
        yield name
    finally:
        shutil.rmtree(name, ignore_errors=True)
        os.close(fd)


def _held_owner_file(directory: str) -> int:
    """The ``.owner`` file of ``directory``, locked by this process (its descriptor).

    The file is made and locked under another name, then renamed: a sweep in another
    process never finds an ``.owner`` that is not locked yet (it would take the
    directory for abandoned); until the rename it finds none, and leaves a young
    directory alone."""
    making = os.path.join(directory, OWNER_FILE + ".new")
    fd = os.open(making, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a new file: nobody else holds it
        os.write(fd, str(os.getpid()).encode("ascii"))
        os.rename(making, os.path.join(directory, OWNER_FILE))
    except BaseException:
        os.close(fd)
        raise
    return fd


def sweep_abandoned(root: Path, prefix: str, *, now: float | None = None) -> list[str]:
    """Remove the directories ``prefix*`` in ``root`` that no live process holds (see the
    module); the names removed. Errors (a folder that cannot be listed or removed) are
    logged and skipped: cleaning up never fails the caller's work."""
    now = time.time() if now is None else now
    removed: list[str] = []
    try:
        entries = [e for e in os.scandir(root) if e.name.startswith(prefix)]
    except OSError as exc:
        log.debug("cannot list %s: %s", root, exc)
        return removed
    uid = os.getuid()
    for entry in entries:
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != uid:
            continue
        if _abandoned(entry.path, info.st_mtime, now):
            shutil.rmtree(entry.path, ignore_errors=True)
            if not os.path.lexists(entry.path):
                removed.append(entry.name)
                log.info("removed %s, left by a process that ended without removing it", entry.path)
    return removed


def _abandoned(path: str, mtime: float, now: float) -> bool:
    """Whether nobody holds the directory ``path`` any more."""
    try:
        fd = os.open(os.path.join(path, OWNER_FILE), os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError as exc:
        # unmarked (an earlier version's, or being made now): only once it is old
        return exc.errno == errno.ENOENT and now - mtime > UNMARKED_MAX_AGE_S
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False  # held: its process still runs
    finally:
        os.close(fd)  # a lock taken here ends with the descriptor
    return True
