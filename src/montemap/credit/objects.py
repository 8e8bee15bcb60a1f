"""Read the loan objects of a batch: their bytes, or a reject for a missing object.

A local store is read directly below the bucket's directory (opened once per batch), one
``open``/``fstat``/``read``/``close`` per object in a tight loop, no thread, no file
object, as long as the objects are in the page cache: the first, then one in
``PROBE_EVERY``, is probed with a one-byte read that may not wait (``RWF_NOWAIT``). Where
one is not, the next ``WINDOW`` objects are opened, the kernel is asked to fetch them all
at once (``POSIX_FADV_WILLNEED``), and then each is read: one after the other, every
object out of the cache would cost a disk round trip of its own (~80-140 us for a 4 KB
object on this machine's virtual disk, a third of it CPU), where asked for together the
disk merges the requests of neighbouring files (~25 us; ``bench/bench_cold_reads.py``).
Any object that is not plainly a regular file there (a symbolic link, a key the store
refuses, a missing file, an I/O error) is read through the store's own interface
instead, so every error and reject stays exactly the store's. Other stores (S3) are read
through their interface by a pool of threads made once per process. Where a portfolio
cannot stay in the page cache, ``montemap simulate``'s workers drop each object's pages
once read (:func:`drop_after_reading`), so that they do not push the batch outputs out.
"""

from __future__ import annotations

import os
import re
import sys
import threading
from collections import deque
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from stat import S_ISREG
from typing import NamedTuple

from montemap.credit.loans import MAX_OBJECT_BYTES, Reject
from montemap.storage import (
    LocalObjectStore,
    ObjectStore,
    ObjectStoreError,
    validate_bucket,
    validate_key,
)
from montemap.storage.local_keys import needs_escape

READ_THREADS = 16


def _window() -> int:
    """Files of a local store held open at a time to fetch them together: a batch of the
    default size, within a quarter of the process's limit on open files."""
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, OSError, ValueError):
        return 64
    return 400 if soft == resource.RLIM_INFINITY else max(16, min(400, soft // 4))


WINDOW = _window()
#: One object in this many is probed for being out of the page cache.
PROBE_EVERY = 32
_NOWAIT: int | None = getattr(os, "RWF_NOWAIT", None)
_PROBE = bytearray(1)
_READ_CHUNK = 64 * 1024
#: Keys that :func:`validate_key` accepts for certain (segments of safe characters that do
#: not start with a dot); other keys are checked by it.
_KEY = r"(?:[A-Za-z0-9_-][A-Za-z0-9_.-]*/)*[A-Za-z0-9_-][A-Za-z0-9_.-]*"
_PLAIN_KEY = re.compile(_KEY)
#: Keys of the form above, one a line (no key of it holds a newline).
_PLAIN_KEYS = re.compile(rf"(?:{_KEY}\n)*{_KEY}")
#: What is asked of a file that holds at least the limit: the limit and one byte more.
_LIMIT = MAX_OBJECT_BYTES + 1
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
#: Whether a local object's pages leave the page cache once read (:func:`drop_after_reading`).
_drop = False


class Item(NamedTuple):
    """One object of a batch."""

    bucket: str
    key: str


def fetch_object(store: ObjectStore, item: Item) -> bytes | Reject:
    """The object's bytes (at most 1 MB + 1 byte), or a reject when it does not exist."""
    try:
        with store.open(item.bucket, item.key) as stream:
            chunks: list[bytes] = []
            total = 0
            while total <= MAX_OBJECT_BYTES:  # small reads: no 1 MB buffer per object
                chunk = stream.read(_READ_CHUNK)
                if not chunk:
                    break
                chunks.append(chunk)
                total += len(chunk)
            return b"".join(chunks)
    except ObjectStoreError as exc:
        if exc.code in ("NoSuchKey", "InvalidKey"):
            return Reject(item.key, f"cannot read object: {exc}")
        raise


def read_objects(store: ObjectStore, items: Sequence[Item]) -> list[bytes | Reject]:
    """Every item's bytes (or reject), in item order."""
    if isinstance(store, LocalObjectStore) and sys.platform.startswith("linux"):
        return _read_local(store, items)
    return list(_thread_pool().map(lambda it: fetch_object(store, it), items))


def drop_after_reading(on: bool) -> None:
    """From now on in this process, ask the kernel to drop a local object's pages from the
    page cache once read (``POSIX_FADV_DONTNEED``: clean pages only, a hint), or not.
    For a portfolio too large to stay cached, whose objects are each read once: their
    pages would otherwise push out what is read again (the batch outputs, which the
    reduction reads minutes later)."""
    global _drop
    _drop = on


def _done_with(fd: int) -> None:
    """The object of ``fd`` is read: its pages may go (:func:`drop_after_reading`)."""
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    except OSError:
        pass  # only a hint


def _thread_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=READ_THREADS, thread_name_prefix="objects")
        return _pool


def _read_local(store: LocalObjectStore, items: Sequence[Item]) -> list[bytes | Reject]:
    out: list[bytes | Reject | None] = [None] * len(items)
    dirs: dict[tuple[str, str], int] = {}
    try:
        start = 0
        while start < len(items):
            start = _read_cached(store, items, start, dirs, out)
            if start < len(items):
                start = _read_from_disk(store, items, start, dirs, out)
    finally:
        for dfd in dirs.values():
            if dfd >= 0:
                os.close(dfd)
    return [
        data if data is not None else fetch_object(store, item)
        for data, item in zip(out, items, strict=True)
    ]


def _read_cached(
    store: LocalObjectStore,
    items: Sequence[Item],
    start: int,
    dirs: dict[tuple[str, str], int],
    out: list[bytes | Reject | None],
) -> int:
    """Read the items from ``start`` one at a time into ``out`` while the probed ones
    (the first, then one in ``PROBE_EVERY``) are in the page cache; returns the index of
    the first probed one that is not (``len(items)`` when all are read)."""
    dfds, names = _targets(store, items[start:], dirs)
    open_, fstat, read, close = os.open, os.fstat, os.read, os.close
    for j, (dfd, name) in enumerate(zip(dfds, names, strict=True)):
        if dfd < 0:
            continue  # the store's reader takes it
        try:
            fd = open_(name, _OPEN_FLAGS, dir_fd=dfd)
        except (OSError, ValueError):
            continue
        try:
            st = fstat(fd)
            if not S_ISREG(st.st_mode):
                continue
            if not j % PROBE_EVERY and any_cold([fd]):
                return start + j
            want = st.st_size + 1 if st.st_size < MAX_OBJECT_BYTES else _LIMIT
            data = read(fd, want)
            if len(data) < want or want == _LIMIT:  # else it grew: the store's reader
                out[start + j] = data
            if _drop:
                _done_with(fd)
        except OSError:
            pass  # the store's reader takes it (and its errors)
        finally:
            close(fd)
    return len(items)


def _read_from_disk(
    store: LocalObjectStore,
    items: Sequence[Item],
    start: int,
    dirs: dict[tuple[str, str], int],
    out: list[bytes | Reject | None],
) -> int:
    """Read up to ``WINDOW`` items from ``start`` into ``out``: open them all, ask the
    kernel to fetch them all at once, then read each; returns the index after them."""
    stop = min(start + WINDOW, len(items))
    at: list[int] = []
    fds: list[int] = []
    wants: list[int] = []
    try:
        dfds, names = _targets(store, items[start:stop], dirs)
        for i, dfd, name in zip(range(start, stop), dfds, names, strict=True):
            fd, want = _open_regular(dfd, name)
            if fd >= 0:
                at.append(i)
                fds.append(fd)
                wants.append(want)
        for fd, want in zip(fds, wants, strict=True):
            try:
                os.posix_fadvise(fd, 0, want, os.POSIX_FADV_WILLNEED)
            except OSError:
                pass  # only a hint: the read below fetches it anyway
        for i, fd, want in zip(at, fds, wants, strict=True):
            out[i] = _read_whole(fd, want)
            if _drop:
                _done_with(fd)
    finally:
        deque(map(os.close, fds), maxlen=0)
    return stop


def _read_whole(fd: int, want: int) -> bytes | None:
    """The file's bytes in one read of ``want`` (one more than it held when opened);
    ``None`` (the store's reader takes it) when it could not be read or grew meanwhile."""
    try:
        data = os.read(fd, want)
    except OSError:
        return None
    return data if len(data) < want or want > MAX_OBJECT_BYTES else None


def _open_regular(dfd: int, name: str) -> tuple[int, int]:
    """A descriptor of the file ``name`` in the directory ``dfd`` when it is plainly a
    regular file, and the bytes to ask for (one more than it holds, at most 1 MB + 1);
    ``(-1, 0)`` leaves it to the store's reader (and its errors and rejects)."""
    if dfd < 0:
        return -1, 0
    try:
        fd = os.open(name, _OPEN_FLAGS, dir_fd=dfd)
    except (OSError, ValueError):
        return -1, 0
    try:
        st = os.fstat(fd)
    except OSError:
        st = None
    if st is None or not S_ISREG(st.st_mode):
        os.close(fd)
        return -1, 0
    return fd, min(st.st_size, MAX_OBJECT_BYTES) + 1


def _targets(
    store: LocalObjectStore, items: Sequence[Item], dirs: dict[tuple[str, str], int]
) -> tuple[list[int], list[str]]:
    """Per item, a descriptor of its key's directory below its bucket's (-1 leaves the
    item to the store's reader) and the file's name there; ``dirs`` keeps the directories
    opened, by (bucket, directory key). The usual batch (one bucket, every key plain and
    in one directory) is checked with a few calls over all its keys at once."""
    if not items:
        return [], []
    keys = [item.key for item in items]
    buckets = [item.bucket for item in items]
    joined = "\n".join(keys)
    head = keys[0][: keys[0].rfind("/") + 1]  # "" or the first key's directory, with "/"
    if (
        buckets.count(buckets[0]) == len(buckets)
        and max(map(len, keys)) <= 1024
        and joined.count("\n") == len(keys) - 1  # no key holds a newline
        and joined.count("\n" + head) == len(keys) - 1  # every other key starts with it
        and joined.count("/") == len(keys) * head.count("/")  # and none goes deeper
        and _PLAIN_KEYS.fullmatch(joined)
    ):
        dfd = _dir_for(store, buckets[0], head[:-1], dirs)
        cut = len(head)
        return [dfd] * len(keys), [key[cut:] for key in keys] if cut else keys
    dfds: list[int] = []
    names: list[str] = []
    for item in items:
        dfd, name = _target(store, item, dirs)
        dfds.append(dfd)
        names.append(name)
    return dfds, names


def _target(
    store: LocalObjectStore, item: Item, dirs: dict[tuple[str, str], int]
) -> tuple[int, str]:
    """One item's directory descriptor (-1: the store's reader takes it) and file name."""
    key = item.key
    if len(key) > 1024 or not _PLAIN_KEY.fullmatch(key):
        try:
            validate_key(key)
        except ObjectStoreError:
            return -1, ""
        if needs_escape(key):  # its file has another name (local_keys): the store reads it
            return -1, ""
    head, _, name = key.rpartition("/")
    return _dir_for(store, item.bucket, head, dirs), name


def _dir_for(
    store: LocalObjectStore, bucket: str, head: str, dirs: dict[tuple[str, str], int]
) -> int:
    dfd = dirs.get((bucket, head))
    if dfd is None:
        dfd = dirs[(bucket, head)] = _open_dir(store, bucket, head)
    return dfd


def any_cold(fds: Iterable[int]) -> bool:
    """Whether reading any of these files would wait for the disk: a one-byte read with
    ``RWF_NOWAIT`` fails with ``EAGAIN`` (it also starts fetching that file). False where
    the kernel or the file system cannot tell."""
    if _NOWAIT is None:
        return False
    for fd in fds:
        try:
            os.preadv(fd, [_PROBE], 0, _NOWAIT)
        except BlockingIOError:
            return True
        except OSError:
            return False  # RWF_NOWAIT not supported here: read them as they come
    return False


def _open_dir(store: LocalObjectStore, bucket: str, head: str) -> int:
    """A descriptor of the directory ``head`` of the bucket, or -1 when the store itself
    must look (a name it may refuse, a directory outside the bucket, none there)."""
    try:
        validate_bucket(bucket)
    except ObjectStoreError:
        return -1
    bucket_dir = os.path.join(store.root, bucket)
    try:
        real_root = os.path.realpath(bucket_dir)
        dfd = os.open(os.path.join(bucket_dir, head), os.O_RDONLY | os.O_DIRECTORY)
    except (OSError, ValueError):
        return -1
    try:
        real = os.readlink(f"/proc/self/fd/{dfd}")
    except OSError:
        real = ""
    if not os.path.isdir(real_root) or not (
        real == real_root or real.startswith(real_root.rstrip("/") + "/")
    ):
        os.close(dfd)
        return -1
    return dfd
