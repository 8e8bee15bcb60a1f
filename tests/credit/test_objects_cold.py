"""Reading a batch's objects out of the page cache (``credit/objects.py``): objects the
disk must fetch are read the same as cached ones, byte for byte and reject for reject, and
the probe sends them (and only them) down the path that asks for a whole window at once.

Files are made cold for real: written back (``fdatasync``), then their clean pages dropped
(``POSIX_FADV_DONTNEED``: only these files' pages, nothing is written)."""

from __future__ import annotations

import ctypes
import datetime as dt
import mmap
import os
from pathlib import Path

import pytest

from montemap.credit.generator import generate
from montemap.credit.loans import MAX_OBJECT_BYTES, Reject
from montemap.credit.objects import (
    PROBE_EVERY,
    WINDOW,
    Item,
    _read_cached,
    _read_from_disk,
    any_cold,
    read_objects,
)
from montemap.credit.portfolio import SOURCE_BUCKET, Destination, data_key
from montemap.storage import LocalObjectStore
from tests.credit.helpers import csv_bytes, record

AS_OF = dt.date(2026, 11, 27)
LOANS = WINDOW + 2 * PROBE_EVERY + 7  # more than one window, not a multiple of the probe


def _portfolio(tmp_path: Path) -> tuple[LocalObjectStore, list[Item]]:
    store = LocalObjectStore(tmp_path / "buckets")
    generate(Destination(store, SOURCE_BUCKET), LOANS, layout="realistic", seed=5, as_of=AS_OF)
    return store, [Item(SOURCE_BUCKET, data_key(i, LOANS)) for i in range(1, LOANS + 1)]


def _path(store: LocalObjectStore, item: Item) -> Path:
    return Path(store.root) / item.bucket / item.key


def _drop(paths: list[Path]) -> None:
    """Write the files back (all started first, then each waited for) and drop their
    pages."""
    fds = [os.open(path, os.O_RDONLY) for path in paths]
    try:
        for fd in fds:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)  # starts the writeback
        for fd in fds:
            os.fdatasync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        for fd in fds:
            os.close(fd)


_LIBC = ctypes.CDLL(None, use_errno=True)
_LIBC.mmap.restype = ctypes.c_void_p
_LIBC.mmap.argtypes = [
    ctypes.c_void_p,
    ctypes.c_size_t,
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_long,
]
_LIBC.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_LIBC.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]


def _cached_pages(path: Path) -> int:
    """How many of ``path``'s pages the page cache holds (``mincore``: it fetches none)."""
    size = path.stat().st_size
    if size == 0:
        return 0
    fd = os.open(path, os.O_RDONLY)
    try:
        address = _LIBC.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
        if address in (None, ctypes.c_void_p(-1).value):
            raise OSError(ctypes.get_errno(), "mmap")
        try:
            pages = -(-size // mmap.PAGESIZE)
            vector = ctypes.create_string_buffer(pages)
            if _LIBC.mincore(address, size, vector) != 0:
                raise OSError(ctypes.get_errno(), "mincore")
            return sum(byte & 1 for byte in vector.raw)
        finally:
            _LIBC.munmap(address, size)
    finally:
        os.close(fd)


def _make_cold(store: LocalObjectStore, items: list[Item]) -> None:
    """Drop the items' pages from the page cache (again while any stays: a page on its
    way to the page lists, or written back late on a busy machine, goes a later time);
    skips the test where a file made so does not read as uncached (a file system kept in
    memory, a kernel without ``RWF_NOWAIT``): a canary file is probed, as probing an item
    would fetch it; the items themselves are checked with ``mincore``, which fetches none."""
    canary = Path(store.root) / "canary"
    canary.write_bytes(b"canary")
    paths = [canary, *(_path(store, it) for it in items)]
    for _ in range(5):
        _drop(paths)
        if not any(_cached_pages(path) for path in paths):
            break
    else:
        pytest.skip("the page cache kept some of the files' pages after five drops")
    fd = os.open(canary, os.O_RDONLY)
    try:
        if not any_cold([fd]):
            pytest.skip("this file system or kernel cannot drop or report uncached pages")
    finally:
        os.close(fd)


def _expected(store: LocalObjectStore, items: list[Item]) -> list[bytes]:
    return [_path(store, it).read_bytes() for it in items]


def test_cold_objects_read_the_same_as_cached_ones(tmp_path: Path) -> None:
    store, items = _portfolio(tmp_path)
    _make_cold(store, items)
    cold = read_objects(store, items)
    assert cold == _expected(store, items)
    assert read_objects(store, items) == cold  # now cached


def test_the_probe_hands_cold_objects_to_the_window_path(tmp_path: Path) -> None:
    store, items = _portfolio(tmp_path)
    _make_cold(store, items)
    out: list[bytes | Reject | None] = [None] * len(items)
    dirs: dict[tuple[str, str], int] = {}
    try:
        assert _read_cached(store, items, 0, dirs, out) == 0  # the first probe: not cached
        assert out == [None] * len(items)
        assert _read_from_disk(store, items, 0, dirs, out) == WINDOW
        assert out[:WINDOW] == _expected(store, items[:WINDOW])
        assert out[WINDOW:] == [None] * (len(items) - WINDOW)
        # the rest is cold too: the next probe (the first item after the window) says so
        assert _read_cached(store, items, WINDOW, dirs, out) == WINDOW
        # once cached, the plain path reads them all
        read_objects(store, items)
        out = [None] * len(items)
        assert _read_cached(store, items, 0, dirs, out) == len(items)
        assert out == _expected(store, items)
    finally:
        for dfd in dirs.values():
            if dfd >= 0:
                os.close(dfd)


def test_cached_then_cold_switches_at_the_first_cold_probe(tmp_path: Path) -> None:
    store, items = _portfolio(tmp_path)
    half = len(items) // 2
    _make_cold(store, items[half:])
    read_objects(store, items[:half])  # the first half cached
    out: list[bytes | Reject | None] = [None] * len(items)
    dirs: dict[tuple[str, str], int] = {}
    try:
        stop = _read_cached(store, items, 0, dirs, out)
    finally:
        for dfd in dirs.values():
            os.close(dfd)
    assert stop == -(-half // PROBE_EVERY) * PROBE_EVERY  # the first probed cold item
    assert out[:stop] == _expected(store, items[:stop])
    _make_cold(store, items[half:])
    assert read_objects(store, items) == _expected(store, items)


def test_odd_objects_among_cold_ones_keep_the_stores_rejects(tmp_path: Path) -> None:
    store, items = _portfolio(tmp_path)
    store.put(SOURCE_BUCKET, "data/extra.csv", csv_bytes([record(AccountID="5")]))
    store.put(SOURCE_BUCKET, "data/empty.csv", b"")
    store.put(SOURCE_BUCKET, "data/big.csv", b"x" * (MAX_OBJECT_BYTES + 5000))
    (Path(store.root) / SOURCE_BUCKET / "data" / "link.csv").symlink_to("extra.csv")
    odd = [
        Item(SOURCE_BUCKET, k)
        for k in ["data/missing.csv", "../escape.csv", "data/link.csv", "data", "data/.hidden"]
    ]
    extra = [Item(SOURCE_BUCKET, k) for k in ["data/extra.csv", "data/empty.csv", "data/big.csv"]]
    mixed = items[:40] + odd + extra + items[40:]
    cached = read_objects(store, mixed)
    _make_cold(store, items + extra)
    cold = read_objects(store, mixed)
    assert cold == cached
    assert all(isinstance(b, Reject) for b in cold[40:42] + cold[43:45])
    assert cold[42] == store.get(SOURCE_BUCKET, "data/extra.csv")  # the link, by the store
    assert cold[45:47] == [store.get(SOURCE_BUCKET, "data/extra.csv"), b""]
    assert cold[47] == b"x" * (MAX_OBJECT_BYTES + 1)  # too big: cut one byte past the limit
    assert [b for b in cold if not isinstance(b, Reject)][:40] == _expected(store, items[:40])
