"""Read the loan objects of a batch: their bytes, or a reject for a missing object.

A local store is read directly, one ``open``/``fstat``/``read``/``close`` per object in a
tight loop below the bucket's directory (opened once per batch): no thread pool, no file
object. Any object that is not plainly a regular file there (a symbolic link, a key the
store refuses, a missing file, an I/O error) is read through the store's own interface
instead, so every error and reject stays exactly the store's. Other stores (S3) are read
through their interface by a pool of threads made once per process.
"""

from __future__ import annotations

import os
import re
import stat
import sys
import threading
from collections.abc import Sequence
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
        for i, item in enumerate(items):
            if len(item.key) > 1024 or not _PLAIN_KEY.fullmatch(item.key):
                try:
                    validate_key(item.key)
                except ObjectStoreError:
                    continue  # the store's reader gives the reject
            head, _, name = item.key.rpartition("/")
            dfd = dirs.get((item.bucket, head))
            if dfd is None:
                dfd = dirs[(item.bucket, head)] = _open_dir(store, item.bucket, head)
            if dfd >= 0:
                out[i] = _read_at(dfd, name)
    finally:
        for dfd in dirs.values():
            if dfd >= 0:
                os.close(dfd)
    return [
        data if data is not None else fetch_object(store, item)
        for data, item in zip(out, items, strict=True)
    ]


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


def _read_at(dfd: int, name: str) -> bytes | None:
    """The regular file ``name`` below ``dfd`` (None: let the store read it)."""
    try:
        fd = os.open(name, _OPEN_FLAGS, dir_fd=dfd)
    except (OSError, ValueError):
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return None
        want = min(st.st_size, MAX_OBJECT_BYTES) + 1
        data = os.read(fd, want)
        if len(data) == want and want <= MAX_OBJECT_BYTES:
            return None  # grew while read: the store's reader takes it
        return data
    except OSError:
        return None
    finally:
        os.close(fd)
