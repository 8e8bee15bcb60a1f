"""Loan objects dropped from the page cache once read (``objects.drop_after_reading``),
for a portfolio too large to stay cached (``simulate.too_large_to_cache``).

Residency in the page cache is read with ``mincore`` over a mapping of each file, which
reads nothing (a ``RWF_NOWAIT`` probe would itself fetch the page). Files are made cold
for real as in ``test_objects_cold.py``."""

from __future__ import annotations

import ctypes
import ctypes.util
import mmap
import os
from pathlib import Path

import pytest

from montemap.credit.objects import Item, drop_after_reading, read_objects
from montemap.credit.params import RunParams
from montemap.credit.simulate import (
    _run_store_batch,
    _run_store_batch_dropping,
    too_large_to_cache,
)
from montemap.storage import LocalObjectStore
from tests.credit.test_objects_cold import AS_OF, _expected, _make_cold, _path, _portfolio

_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [
    ctypes.c_void_p,
    ctypes.c_size_t,
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_long,
]
_libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]


def _resident(path: Path) -> bool:
    """Whether the file's first page is in the page cache (``mincore``: reads nothing)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        length = max(1, os.fstat(fd).st_size)
        addr = _libc.mmap(None, length, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
        assert addr not in (None, ctypes.c_void_p(-1).value), "mmap failed"
        try:
            vec = ctypes.create_string_buffer(-(-length // mmap.PAGESIZE))
            assert _libc.mincore(addr, length, vec) == 0, "mincore failed"
            return bool(vec.raw[0] & 1)
        finally:
            _libc.munmap(addr, length)
    finally:
        os.close(fd)


def _resident_count(store: LocalObjectStore, items: list[Item]) -> int:
    return sum(_resident(_path(store, it)) for it in items)


def _cold_portfolio(tmp_path: Path) -> tuple[LocalObjectStore, list[Item]]:
    store, items = _portfolio(tmp_path)
    _make_cold(store, items)
    if _resident_count(store, items):  # mincore must see what the probe saw
        pytest.skip("mincore reports dropped pages as resident here")
    return store, items


@pytest.mark.parametrize("drop", [True, False])
def test_objects_dropped_once_read_only_when_asked(tmp_path: Path, drop: bool) -> None:
    store, items = _cold_portfolio(tmp_path)
    half = len(items) // 2
    read_objects(store, items[:half])  # cached: the plain path
    drop_after_reading(drop)
    try:
        got = read_objects(store, items)  # the cached half, then the window path
    finally:
        drop_after_reading(False)
    assert _resident_count(store, items) == (0 if drop else len(items))
    assert got == _expected(store, items)


def test_only_a_portfolio_larger_than_half_the_memory_is_dropped() -> None:
    memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    assert not too_large_to_cache(500_000 if memory > 8 * 2**30 else 1)
    assert not too_large_to_cache(memory // 2 // 4096)
    assert too_large_to_cache(memory // 2 // 4096 + 1)


def _outputs(work: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(work)): path.read_bytes()
        for path in sorted(work.rglob("*"))
        if path.is_file()
    }


def test_a_simulate_batch_that_drops_its_objects_writes_the_same_bytes(tmp_path: Path) -> None:
    store, items = _cold_portfolio(tmp_path)
    odd = [Item(items[0].bucket, "data/missing.csv"), Item(items[0].bucket, "../escape.csv")]
    params = RunParams(output_bucket="montemap-results", as_of=AS_OF)
    event = {
        "Items": [{"Bucket": it.bucket, "Key": it.key} for it in [*odd, *items]],
        "BatchInput": params.to_batch_input(),
    }
    results = {}
    for drop in (True, False):
        work = tmp_path / f"work-{drop}"
        run = _run_store_batch_dropping if drop else _run_store_batch
        results[drop] = run(event, str(store.root), str(work))
        results[drop].pop("seconds", None)  # the batch's wall time
        assert _resident_count(store, items) == (0 if drop else len(items))
        _make_cold(store, items)
    assert results[True] == results[False] and results[True]["rejected"] == 2
    assert _outputs(tmp_path / "work-True") == _outputs(tmp_path / "work-False")
    read_objects(store, items)  # the switch is off again once the batch is done
    assert _resident_count(store, items) == len(items)
