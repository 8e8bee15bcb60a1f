"""The local backend's listing: a bucket's directories walked in S3 key order.

Each directory is read once, its entries named by the keys they hold (escaped
segments decoded: :mod:`montemap.storage.local_keys`) and sorted, and only the
directories that can hold keys under the prefix and after the token are entered.
Temporary files (:data:`TMP_PREFIX`) are never listed; symbolic links are
listed only when they lead to a file inside the bucket.
"""

from __future__ import annotations

import bisect
import collections
import errno
import os
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from montemap.errors import MontemapError
from montemap.storage.local_keys import segment_of

#: Name prefix of in-flight temporary files; never listed.
TMP_PREFIX = ".montemap-tmp-"


class EscapesBucket(MontemapError):
    """A path that resolves outside its bucket's directory (caught by the local store)."""


def inside(real: str, real_root: str) -> bool:
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)


def object_stat(path: str | Path, real_root: str) -> os.stat_result | None:
    """Stat of the regular file at ``path`` if it is an object of the bucket, else None.

    Raises :class:`EscapesBucket` for a path whose symbolic links lead out of the bucket.
    """
    try:
        real = os.path.realpath(path)
        if not inside(real, real_root):
            raise EscapesBucket
        st = os.stat(real)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:  # a key no file can have
            return None
        raise
    return st if stat.S_ISREG(st.st_mode) else None


def walk_sorted(
    directory: str, rel: str, prefix: str, after: str | None, real_root: str
) -> Iterator[tuple[str, str, os.stat_result | None]]:
    """Yield (key, path, stat) of every object below ``directory`` under ``prefix``, after
    ``after``, in S3 key order, descending only into directories that can hold such keys.
    The stat is the link target's for a symbolic link (checked to be a file inside the
    bucket), ``None`` for a plain file (its ``lstat`` is left to those who need it).

    S3 orders keys by UTF-8 bytes, which is Python's code point order; a
    directory ``d`` holds exactly the keys that start with ``d/``, so it sorts
    as ``d/`` among its siblings.
    """
    named = _sorted_entries(directory, rel)
    if named is None:
        return
    # Every key before both the prefix and ``after`` is passed over, except the one
    # directory that may hold them, which sorts just before them among its siblings.
    bound = max(prefix, after) if after is not None else prefix
    start = max(0, bisect.bisect_left(named, (bound,)) - 1) if bound else 0
    for key, path, is_dir, is_link, is_file in named[start:]:
        in_range = key.startswith(prefix) or (is_dir and prefix.startswith(key))
        if not in_range:
            if key > prefix:
                return  # past every key that starts with the prefix
            continue
        if after is not None and key <= after and not (is_dir and after.startswith(key)):
            continue  # the key, or the whole directory, comes at or before ``after``
        if is_dir:
            yield from walk_sorted(path, key, prefix, after, real_root)
            continue
        if is_link:
            try:
                link_st = object_stat(path, real_root)
            except EscapesBucket:
                continue  # never list what cannot be read
            if link_st is not None:
                yield key, path, link_st
        elif is_file:
            # Reached without following any link: inside the bucket by construction.
            yield key, path, None


#: One directory's entries in S3 key order: (key, path, is_dir, is_symlink, is_file).
Entries = list[tuple[str, str, bool, bool, bool]]
#: Directories this large keep their sorted entries between listings (a listing of a
#: folder of 100,000 objects pages 1,000 keys at a time: reading and sorting the folder
#: again for each page made listing it quadratic).
CACHE_MIN_ENTRIES = 2048
CACHED_DIRECTORIES = 8
#: Only a directory unchanged for this long is cached: its modification time comes from
#: the kernel's coarse clock, so a change within the same tick as a read could keep it;
#: any change after a settled read gives it a newer time, and the cache is read again.
SETTLED_NS = 2_000_000_000
_cache: collections.OrderedDict[tuple[str, str], tuple[tuple[int, int, int], Entries]] = (
    collections.OrderedDict()
)
_cache_lock = threading.Lock()


def _sorted_entries(directory: str, rel: str) -> Entries | None:
    """The directory's entries in key order (None: it is gone), from the cache while the
    directory is unchanged."""
    try:
        st = os.stat(directory)
    except (FileNotFoundError, NotADirectoryError):
        return None
    version = (st.st_ino, st.st_mtime_ns, st.st_ctime_ns)
    with _cache_lock:
        cached = _cache.get((directory, rel))
        if cached is not None and cached[0] == version:
            _cache.move_to_end((directory, rel))
            return cached[1]
    try:
        entries = list(os.scandir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return None
    named: Entries = []
    for entry in entries:
        if entry.name.startswith(TMP_PREFIX):
            continue
        segment = segment_of(entry.name, entry.path)  # escaped (local_keys): decoded
        if segment is None:
            continue
        is_dir = entry.is_dir(follow_symlinks=False)
        key = rel + segment + ("/" if is_dir else "")
        named.append(
            (key, entry.path, is_dir, entry.is_symlink(), entry.is_file(follow_symlinks=False))
        )
    named.sort(key=lambda t: t[0])
    settled = time.time_ns() - st.st_mtime_ns > SETTLED_NS
    if len(named) >= CACHE_MIN_ENTRIES and settled:
        with _cache_lock:
            _cache[(directory, rel)] = (version, named)
            _cache.move_to_end((directory, rel))
            while len(_cache) > CACHED_DIRECTORIES:
                _cache.popitem(last=False)
    return named


def stale_tmp(name: str) -> bool:
    """Whether ``name`` is the temporary file of a write whose process is gone (killed
    while writing: ``<TMP_PREFIX><pid in hex>-...``, :func:`montemap.storage.local._tmp_name`).
    A live process's, or one whose process cannot be told, is not."""
    if not name.startswith(TMP_PREFIX):
        return False
    try:
        pid = int(name[len(TMP_PREFIX) :].partition("-")[0], 16)
    except ValueError:
        return False
    if pid <= 0 or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # another user's live process
        return False
    return False
