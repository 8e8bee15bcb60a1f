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
through their interface by a pool of threads made once per process.
"""

from __future__ import annotations

import os
import re
import stat
import sys
import threading
from collections import deque
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

from montemap.credit.loans import MAX_OBJECT_BYTES, Reject
from montemap.storage import (
    LocalObjectStore,
    ObjectStore,
    ObjectStoreError,
    validate_bucket,
    validate_key,
)

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
_PLAIN_KEY = re.compile(r"(?:[A-Za-z0-9_-][A-Za-z0-9_.-]*/)*[A-Za-z0-9_-][A-Za-z0-9_.-]*")
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


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
    for i in range(start, len(items)):
        fd, want = _open_item(store, items[i], dirs)
        if fd < 0:
            continue  # the store's reader takes it
        try:
            if (i - start) % PROBE_EVERY == 0 and any_cold([fd]):
                return i
            out[i] = _read_whole(fd, want)
        finally:
            os.close(fd)
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
        for i in range(start, stop):
            fd, want = _open_item(store, items[i], dirs)
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


def _open_item(
    store: LocalObjectStore, item: Item, dirs: dict[tuple[str, str], int]
) -> tuple[int, int]:
    """A descriptor of the item's file when it is plainly a regular file below its
    bucket's directory, and the bytes to ask for (one more than it holds, at most 1 MB +
    1); ``(-1, 0)`` leaves it to the store's reader (and its errors and rejects)."""
    key = item.key
    if len(key) > 1024 or not _PLAIN_KEY.fullmatch(key):
        try:
            validate_key(key)
        except ObjectStoreError:
            return -1, 0
    head, _, name = key.rpartition("/")
    dfd = dirs.get((item.bucket, head))
    if dfd is None:
        dfd = dirs[(item.bucket, head)] = _open_dir(store, item.bucket, head)
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
    if st is None or not stat.S_ISREG(st.st_mode):
        os.close(fd)
        return -1, 0
    return fd, min(st.st_size, MAX_OBJECT_BYTES) + 1


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
