"""``montemap simulate``'s main process: the pool fed in bounded memory, the reduction
and the report on Arrow's jemalloc pool (issue 13).

The main process reads the portfolio's inventory and hands the batches to the process
pool a window at a time (``run_jobs``), keeping only each result's batch id. With four
times as many batches (tiny ones, so only the bookkeeping is measured: the jobs echo
their event and return a large result, as a worker's result would be), the peak of
Python memory in the main process (tracemalloc) may grow by the kept ids alone: an
inventory read whole, jobs submitted all at once or whole results kept would each add
kilobytes a batch.
"""

from __future__ import annotations

import gzip
import json
import tracemalloc
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from montemap.credit.params import RunParams
from montemap.credit.reduce import arrow_pool
from montemap.credit.simulate import (
    MANIFEST_KEY,
    SOURCE_BUCKET,
    _batch_id,
    _store_jobs,
    iter_inventory_items,
    run_jobs,
)
from montemap.storage import LocalObjectStore

BATCH = 4
#: Growth allowed per extra batch: its kept id (a ~30-character string and a list slot,
#: under 100 bytes) and slack; a batch's event alone (4 items) is over 1 KB, a result
#: (``_echo``) 20 KB.
PER_BATCH = 256
#: Lines per inventory file.
FILE_ITEMS = 400


def _echo(event: dict[str, Any], data_root: str, work_root: str) -> dict[str, Any]:
    """A job that does no work: the batch id (its first key) and a worker-sized result."""
    return {"batch_id": str(event["Items"][0]["Key"]), "rejects": ["x" * 100] * 200}


def _inventory(root: Path, items: int) -> LocalObjectStore:
    """A source bucket whose inventory lists ``items`` objects (never read here), in files
    of ``FILE_ITEMS`` lines (as a generated portfolio's, 65,536 lines each)."""
    store = LocalObjectStore(root)
    store.create_bucket(SOURCE_BUCKET)
    files = []
    for start in range(0, items, FILE_ITEMS):
        lines = "".join(
            f'"{SOURCE_BUCKET}","data/loan-{i:07d}.csv","230"\n'
            for i in range(start, min(items, start + FILE_ITEMS))
        )
        key = f"inventory/part-{start:07d}.csv.gz"
        store.put(SOURCE_BUCKET, key, gzip.compress(lines.encode()))
        files.append({"key": key})
    manifest = {"fileSchema": "Bucket, Key, Size", "files": files}
    store.put(SOURCE_BUCKET, MANIFEST_KEY, json.dumps(manifest).encode())
    return store


def _peak(root: Path, batches: int) -> tuple[int, int]:
    """Peak traced bytes of the main process while the pool runs ``batches`` batches."""
    store = _inventory(root / "data", batches * BATCH)
    params = RunParams(output_bucket="res", output_prefix="run", paths=100)
    jobs = (
        (_echo, args)
        for _, args in _store_jobs(iter_inventory_items(store), params, BATCH, store, root)
    )
    tracemalloc.start()
    try:
        ids = run_jobs(jobs, workers=2, keep=_batch_id)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert ids == [f"data/loan-{i:07d}.csv" for i in range(0, batches * BATCH, BATCH)]
    return peak, len(ids)


def test_feeding_the_pool_does_not_grow_with_batches(tmp_path: Path) -> None:
    _peak(tmp_path / "warm", 20)  # the pool's start, imports and caches first
    small, n = _peak(tmp_path / "n", 200)
    large, four_n = _peak(tmp_path / "4n", 800)
    assert four_n == 4 * n
    assert large - small < PER_BATCH * (four_n - n), (small, large)


def test_arrow_pool_is_jemalloc_inside_and_the_previous_one_after() -> None:
    try:
        pa.jemalloc_memory_pool()
    except NotImplementedError:
        pytest.skip("this PyArrow is built without jemalloc")
    before = pa.default_memory_pool().backend_name
    with arrow_pool():
        assert pa.default_memory_pool().backend_name == "jemalloc"
        allocated = pa.array(range(100_000))  # a buffer of the jemalloc pool
    assert pa.default_memory_pool().backend_name == before
    assert allocated.sum().as_py() == sum(range(100_000))  # still valid after
    with pytest.raises(ValueError, match="inside"), arrow_pool():
        raise ValueError("inside")
    assert pa.default_memory_pool().backend_name == before
