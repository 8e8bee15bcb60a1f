"""The local backend's listing: a bucket's directories walked in S3 key order.

Each directory is read once, its entries named by the keys they hold (escaped
segments decoded: :mod:`montemap.storage.local_keys`) and sorted, and only the
directories that can hold keys under the prefix and after the token are entered.
Temporary files (:data:`TMP_PREFIX`) are never listed; symbolic links are
listed only when they lead to a file inside the bucket.
"""

from __future__ import annotations

import errno
import os
import stat
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
    try:
        entries = list(os.scandir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return
    named: list[tuple[str, os.DirEntry[str], bool]] = []
    for entry in entries:
        if entry.name.startswith(TMP_PREFIX):
            continue
        segment = segment_of(entry.name, entry.path)  # escaped (local_keys): decoded
        if segment is None:
            continue
        is_dir = entry.is_dir(follow_symlinks=False)
        named.append((rel + segment + ("/" if is_dir else ""), entry, is_dir))
    named.sort(key=lambda t: t[0])
    for key, entry, is_dir in named:
        in_range = key.startswith(prefix) or (is_dir and prefix.startswith(key))
        if not in_range:
            if key > prefix:
                return  # past every key that starts with the prefix
            continue
        if after is not None and key <= after and not (is_dir and after.startswith(key)):
            continue  # the key, or the whole directory, comes at or before ``after``
        if is_dir:
            yield from walk_sorted(entry.path, key, prefix, after, real_root)
            continue
        if entry.is_symlink():
            try:
                link_st = object_stat(entry.path, real_root)
            except EscapesBucket:
                continue  # never list what cannot be read
            if link_st is not None:
                yield key, entry.path, link_st
        elif entry.is_file(follow_symlinks=False):
            # Reached without following any link: inside the bucket by construction.
            yield key, entry.path, None
