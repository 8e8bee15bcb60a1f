"""Cheap checks of the local backend's paths, for the common case of no symbolic links.

The general checks (``os.path.realpath`` of every path, then comparing it with
the bucket's real path) cost one ``lstat`` and some Python per component of
the whole path, root included, on every read and write. When the bucket's
directory is a plain directory below the root's real path and no directory
between it and the object is a symbolic link, the object's real path is just
``<real bucket>/<key>``: these helpers check exactly that, with one ``lstat``
per directory *of the key* (none for a key without ``/``), and the callers
open the final component with ``O_NOFOLLOW``. Anything else (a link anywhere)
makes the callers fall back to the general checks.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from typing import BinaryIO

from montemap.storage.local_keys import label, long_segments

#: Flags of a read that must not follow a symbolic link in the last component.
READ_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
#: Flags of a new temporary file (never an existing one, never through a link).
CREATE_FLAGS = (
    os.O_WRONLY
    | os.O_CREAT
    | os.O_EXCL
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_NOFOLLOW", 0)
)


def plain_dirs(real_bucket: str, key: str) -> bool | None:
    """The directories of ``key`` (``a`` and ``a/b`` for ``a/b/c``) below ``real_bucket``.

    ``True``: they all exist and are directories, none a symbolic link.
    ``False``: none is a link, but one does not exist yet (it can be created).
    ``None``: one is a symbolic link or not a directory: use the general checks.
    """
    index = key.find("/")
    while index != -1:
        try:
            mode = os.lstat(os.path.join(real_bucket, key[:index])).st_mode
        except (FileNotFoundError, NotADirectoryError):
            return False
        except OSError:  # a name too long...: the general checks say what is wrong
            return None
        if not stat.S_ISDIR(mode):
            return None
        index = key.find("/", index + 1)
    return True


def open_real(real_root: str, bucket: str, key: str) -> tuple[int, os.stat_result] | None:
    """A read descriptor and stat of the regular file ``<real_root>/<bucket>/<key>``, if
    that is its real path: the kernel's name of the opened file (``/proc/self/fd``) is
    the path opened, so no symbolic link led elsewhere (one ``readlink`` where checking
    the bucket and every directory of the key costs an ``lstat`` each). ``None`` in any
    other case (missing, a link on the way, not a file, no ``/proc``): the caller then
    takes the general way, which also names the error."""
    path = os.path.join(real_root, bucket, key)
    try:
        fd = os.open(path, READ_FLAGS)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if stat.S_ISREG(st.st_mode) and os.readlink(f"/proc/self/fd/{fd}") == path:
            return fd, st
    except OSError:
        pass
    os.close(fd)
    return None


def write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    """Write every byte of ``data`` to ``fd``."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def copy_unhashed(stream: BinaryIO, fd: int) -> None:
    """Copy the rest of ``stream`` to ``fd``: in the kernel (``copy_file_range``) when
    the stream is a file with nothing buffered, else through a 1 MB buffer."""
    try:
        src = stream.fileno()
        start = stream.tell()
        fast = stat.S_ISREG(os.fstat(src).st_mode) and os.lseek(src, 0, os.SEEK_CUR) == start
    except (AttributeError, OSError, ValueError):
        fast = False
    if fast:
        offset = start
        try:
            while copied := os.copy_file_range(src, fd, 1 << 30, offset):
                offset += copied
            stream.seek(offset)
            return
        except OSError:  # not supported between these files: the plain way from here
            stream.seek(offset)
            os.lseek(fd, offset - start, os.SEEK_SET)
            os.ftruncate(fd, offset - start)
    with os.fdopen(fd, "wb", closefd=False) as sink:
        shutil.copyfileobj(stream, sink, 1 << 20)


def label_long(fd: int, directory: str, name: str, key: str) -> None:
    """Keep each long segment of ``key`` with its file (``fd``) or directory (local_keys)."""
    parent = os.path.dirname(name)
    base = directory[: len(directory) - len(parent)] if parent else directory + "/"
    for rel, segment in long_segments(key):
        try:
            label(fd if rel == name else base + rel, segment)
        except OSError as exc:  # no extended attributes: such a key cannot be listed
            raise OSError(errno.ENAMETOOLONG, f"cannot keep a long segment: {exc.strerror}")


def remove_empty_tree(path: str) -> bool:
    """Remove the directory ``path`` if it and its subdirectories hold no file at all
    (a symbolic link counts as a file); whether it is gone."""
    try:
        for root, dirs, files in os.walk(path, topdown=False):
            if files:
                return False
            for name in dirs:
                os.rmdir(os.path.join(root, name))  # a link among dirs: ENOTDIR
        os.rmdir(path)
    except OSError:
        return False
    return True
