"""The overlap check (no loan key in two batches) runs in a forked helper beside the
rest of the reduction, and refuses exactly what the in-process merge refused."""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from montemap.credit import reduce_fork, reduce_overlap
from montemap.credit.batch import handle_batch
from montemap.credit.params import RunParams
from montemap.credit.reduce import reduce_run
from montemap.credit.reduce_overlap import overlap_checked
from montemap.credit.reduce_scan import (
    AccountSpill,
    BatchTable,
    ReduceError,
    id_array,
    scan_batches,
)
from montemap.storage import LocalObjectStore
from tests.credit.helpers import csv_bytes, portfolio

PARAMS = RunParams(
    output_bucket="res", output_prefix="run", paths=40, seed=1,
    as_of=dt.date(2026, 11, 27), shocks_bp=(0, 100),
)  # fmt: skip


def _batches(root: Path, chunks: list[slice]) -> tuple[LocalObjectStore, BatchTable]:
    """A store holding one batch output per chunk of 20 loan objects (keys ``d/000.csv``
    ...), and the first pass's table of them."""
    store = LocalObjectStore(root / "buckets")
    store.create_bucket("src")
    keys = []
    for i, rec in enumerate(portfolio(20)):
        keys.append(f"d/{i:03d}.csv")
        store.put("src", keys[-1], csv_bytes([rec]))
    ids = []
    for chunk in chunks:
        event = {"Items": [{"Bucket": "src", "Key": k} for k in keys[chunk]]}
        out = handle_batch({**event, "BatchInput": PARAMS.to_batch_input()}, None, store=store)
        ids.append(out["batch_id"])
    spill = AccountSpill(root, len(ids))
    try:
        scan = scan_batches(store, PARAMS, id_array(ids), spill)
    finally:
        spill.close()
    return store, scan.batches


@pytest.fixture
def merges(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """Record (in a file: the helper is another process) each process that merges."""
    log = tmp_path / "merged-by"
    real = reduce_overlap.merge_groups

    def merge_groups(*args: object) -> None:
        with open(log, "a") as f:
            f.write(f"{os.getpid()}\n")
        real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(reduce_overlap, "merge_groups", merge_groups)
    yield log


def _merged_by(log: Path) -> list[int]:
    return [int(line) for line in log.read_text().split()] if log.exists() else []


def test_a_repeated_key_is_refused_by_the_helper(tmp_path: Path, merges: Path) -> None:
    store, batches = _batches(tmp_path, [slice(0, 8), slice(5, 12)])
    with (
        pytest.raises(ReduceError, match="batches overlap"),
        overlap_checked(store, PARAMS, batches, tmp_path),
    ):
        pass
    by = _merged_by(merges)
    assert len(by) == 1 and by[0] != os.getpid()  # the helper merged, not this process
    assert not list(tmp_path.glob("helper-*"))  # its folder is gone


def test_sound_overlapping_batches_pass_and_the_body_runs_beside_the_check(
    tmp_path: Path, merges: Path
) -> None:
    # every other loan in each batch: the two key ranges overlap, no key repeats
    store, batches = _batches(tmp_path, [slice(0, 20, 2), slice(1, 20, 2)])
    ran = []
    with overlap_checked(store, PARAMS, batches, tmp_path):
        ran.append(True)
    assert ran == [True]
    assert len(_merged_by(merges)) == 1 and _merged_by(merges)[0] != os.getpid()
    assert not list(tmp_path.glob("helper-*"))


def test_batches_that_do_not_overlap_fork_no_helper(tmp_path: Path, merges: Path) -> None:
    store, batches = _batches(tmp_path, [slice(0, 8), slice(8, 20)])
    with overlap_checked(store, PARAMS, batches, tmp_path):
        pass
    assert _merged_by(merges) == [os.getpid()]  # an empty merge, here: nothing to fork for


def test_a_repeated_key_is_the_error_when_the_body_fails_too(tmp_path: Path) -> None:
    store, batches = _batches(tmp_path, [slice(0, 8), slice(5, 12)])
    with (
        pytest.raises(ReduceError, match="batches overlap") as caught,
        overlap_checked(store, PARAMS, batches, tmp_path),
    ):
        raise ValueError("a pass failed on the repeated loan")
    assert isinstance(caught.value.__context__, ValueError)
    # and without a repeated key, the body's own error comes out unchanged
    store, batches = _batches(tmp_path / "sound", [slice(0, 20, 2), slice(1, 20, 2)])
    with (
        pytest.raises(ValueError, match="a pass failed"),
        overlap_checked(store, PARAMS, batches, tmp_path / "sound"),
    ):
        raise ValueError("a pass failed")


def test_a_failing_helper_leaves_the_merge_to_this_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, merges: Path
) -> None:
    parent = os.getpid()
    logged = reduce_overlap.merge_groups

    def merge_groups(*args: object) -> None:
        if os.getpid() != parent:
            with open(merges, "a") as f:
                f.write(f"{os.getpid()}\n")
            raise RuntimeError("the helper breaks before it has a verdict")
        logged(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(reduce_overlap, "merge_groups", merge_groups)
    store, batches = _batches(tmp_path, [slice(0, 8), slice(5, 12)])
    with (
        pytest.raises(ReduceError, match="batches overlap"),
        overlap_checked(store, PARAMS, batches, tmp_path),
    ):
        pass
    by = _merged_by(merges)
    assert len(by) == 2 and by[0] != parent and by[1] == parent


def test_a_hung_helper_is_killed_and_the_merge_done_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, merges: Path
) -> None:
    parent = os.getpid()
    logged = reduce_overlap.merge_groups
    monkeypatch.setattr(reduce_fork, "PATIENCE", 0.5)

    def merge_groups(
        store: object, params: object, batches: object, groups: list[NDArray[np.intp]]
    ) -> None:
        if os.getpid() != parent:
            time.sleep(60)  # hung
        logged(store, params, batches, groups)  # type: ignore[arg-type]

    monkeypatch.setattr(reduce_overlap, "merge_groups", merge_groups)
    store, batches = _batches(tmp_path, [slice(0, 8), slice(5, 12)])
    started = time.monotonic()
    with (
        pytest.raises(ReduceError, match="batches overlap"),
        overlap_checked(store, PARAMS, batches, tmp_path),
    ):
        pass
    assert time.monotonic() - started < 30
    assert _merged_by(merges) == [parent]
    assert not list(tmp_path.glob("helper-*"))


def test_the_whole_reduction_refuses_overlapping_batches_as_before(tmp_path: Path) -> None:
    store, _ = _batches(tmp_path, [slice(0, 8), slice(5, 12)])
    with pytest.raises(ReduceError, match="batches overlap: some loan appears in more than one"):
        reduce_run(store, PARAMS)
    sound, _ = _batches(tmp_path / "sound", [slice(0, 20, 2), slice(1, 20, 2)])
    summary = reduce_run(sound, PARAMS).summary
    assert summary["loans"] + summary["matured"] == 20
