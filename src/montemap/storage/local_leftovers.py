"""What writes cut short by a killed process leave in a local store, removed at start.

A write goes to a temporary file beside its object (``.montemap-tmp-<pid>-...``),
a part to one in its upload's directory (``.part-<pid>-...``), a new upload to a
directory made under another name (``.new-<pid>-<id>``), and a finished upload's
directory is renamed (``.gone-<id>``) before it is removed. A process killed
(SIGKILL, a power cut) in between leaves these behind: never listed, but they
held the bucket's disk space until the bucket itself was deleted. A server
starting sweeps them away (:func:`sweep_in_background`): only these names, and of
a temporary file or a new upload only those whose writer (the process id in the
name) is gone; never an object (a key segment named so is escaped:
:mod:`montemap.storage.local_keys`), never anything a live process writes. Files
and directories of earlier versions, whose names hold no process id, go once
unchanged for :data:`LEGACY_AGE` seconds.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from pathlib import Path

from montemap.storage.local_uploads import GONE_PREFIX, NEW_PREFIX, PART_PREFIX, UPLOADS_DIR
from montemap.storage.local_walk import TMP_PREFIX, stale_tmp

__all__ = ["LEGACY_AGE", "sweep", "sweep_in_background"]

log = logging.getLogger(__name__)

#: How long a leftover without a process id in its name stays untouched (seconds).
LEGACY_AGE = 3600.0


def sweep(root: str | os.PathLike[str]) -> int:
    """Remove what killed writes left under the store's ``root``; how many were removed."""
    root = Path(root)
    removed = 0
    try:
        entries = list(os.scandir(root))
    except OSError:
        return 0
    for entry in entries:
        if entry.name == UPLOADS_DIR:
            removed += _sweep_uploads(Path(entry.path))
        elif entry.is_dir(follow_symlinks=False):
            removed += _sweep_bucket(entry.path)
    return removed


def sweep_in_background(root: str | os.PathLike[str]) -> threading.Thread:
    """:func:`sweep` in a daemon thread (a large store takes a while to walk), logged."""

    def run() -> None:
        try:
            removed = sweep(root)
        except Exception:  # never the server's end: the next start sweeps again
            log.exception("sweeping the leftovers of killed writes under %s failed", root)
            return
        if removed:
            log.info("removed %d leftovers of killed writes under %s", removed, root)

    thread = threading.Thread(target=run, name="montemap-store-sweep", daemon=True)
    thread.start()
    return thread


def _sweep_bucket(bucket_dir: str) -> int:
    removed = 0
    for directory, _, files in os.walk(bucket_dir):  # never follows a symbolic link
        for name in files:
            if stale_tmp(name) and _unlink(os.path.join(directory, name)):
                removed += 1
    return removed


def _sweep_uploads(base: Path) -> int:
    removed = 0
    for staging in _subdirectories(str(base)):
        for entry in _subdirectories(staging.path):
            name = entry.name
            if name.startswith(GONE_PREFIX) or (
                name.startswith(NEW_PREFIX) and _abandoned(name, NEW_PREFIX, entry.path)
            ):
                shutil.rmtree(entry.path, ignore_errors=True)
                removed += 1
            elif not name.startswith("."):
                removed += _sweep_parts(entry.path)
    return removed


def _sweep_parts(upload_dir: str) -> int:
    removed = 0
    try:
        names = os.listdir(upload_dir)
    except OSError:
        return 0
    for name in names:
        path = os.path.join(upload_dir, name)
        if name.startswith(PART_PREFIX) and _abandoned(name, PART_PREFIX, path):
            removed += _unlink(path)
    return removed


def _abandoned(name: str, prefix: str, path: str) -> bool:
    """Whether the writer of ``name`` (``<prefix><pid in hex>-...``) is gone; for a name
    of an earlier version (no process id), whether it is unchanged for long."""
    pid, dash, _ = name[len(prefix) :].partition("-")
    if dash and pid and all(c in "0123456789abcdef" for c in pid):
        return stale_tmp(TMP_PREFIX + name[len(prefix) :])
    try:
        return time.time() - os.lstat(path).st_mtime > LEGACY_AGE
    except OSError:
        return False


def _subdirectories(path: str) -> list[os.DirEntry[str]]:
    try:
        return [e for e in os.scandir(path) if e.is_dir(follow_symlinks=False)]
    except OSError:
        return []


def _unlink(path: str) -> bool:
    try:
        os.unlink(path)
    except OSError:
        return False
    return True
