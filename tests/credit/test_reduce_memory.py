"""The reduction and the report hold bounded state, never one entry per loan (issue 13).

Memory that is flat in the number of loans cannot be timed in CI, but its cause can be
tested: with every chunk, leaf and slice size made tiny (so the bounded buffers fill
with a few thousand loans), the same portfolio at N and 3N loans must reach the same
peak of Python memory (tracemalloc: NumPy arrays and Python objects), up to a small
allowance for the per-batch state (a few numbers a batch). N is past the size where the
bounded buffers are full (at 800 loans they are not: from 800 to 3,200 the peak still
rises by ~90 KB, then by ~7 bytes a loan, the per-batch state).
"""

from __future__ import annotations

import datetime as dt
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from montemap.credit import (
    contributions,
    exact_sum,
    reduce_loans,
    reduce_merge,
    reduce_scan,
    report_loans,
)
from montemap.credit.exact_sum import PairwiseSum
from montemap.credit.params import RunParams
from montemap.credit.reduce import reduce_run
from montemap.credit.report import write_report
from montemap.credit.simulate import _run_tape_batch
from montemap.storage import LocalObjectStore
from tests.credit.helpers import portfolio

AS_OF = dt.date(2026, 11, 27)
PARAMS = RunParams(
    output_bucket="res", output_prefix="run", paths=100, seed=5, as_of=AS_OF,
    shocks_bp=(0, 200),
)  # fmt: skip
BATCH = 200
#: Growth allowed per extra batch (its id, row counts and key range take ~1.3 KB; the
#: rest is slack for noise): 131 KB over the 6,400 extra loans, where a Python list with
#: one entry a loan (a float or a key each) would take 200 KB or more.
PER_BATCH = 4096
SMALL, LARGE = 3200, 9600


@pytest.fixture
def tiny_buffers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reduce_merge, "CHUNK_ROWS", 64)
    monkeypatch.setattr(exact_sum, "LEAF", 128)
    monkeypatch.setattr(contributions, "slice_rows", lambda centres: 37)
    monkeypatch.setattr(reduce_loans, "slice_rows", lambda centres: 37)
    monkeypatch.setattr(reduce_loans, "_GROUP_ROWS", 64)
    monkeypatch.setattr(reduce_scan, "PARTITION_LOANS", 256)
    monkeypatch.setattr(report_loans, "CHUNK_ROWS", 64)


def _batches(root: Path, loans: int) -> tuple[LocalObjectStore, list[str]]:
    """Batches of ``loans`` varied loans, keys in order (as a generated portfolio's), from
    a handful of ZIP codes: every breakdown then has the same groups at both sizes."""
    zips = ("02134", "10001", "60601", "73301", "94105")
    rows = portfolio(loans, seed=2)
    records = [
        (f"data/loan-{i:07d}.csv", {**row, "ZipCode": zips[i % len(zips)]})
        for i, row in enumerate(rows)
    ]
    ids = []
    for start in range(0, loans, BATCH):
        batch_id = f"b-{start:07d}"
        _run_tape_batch(records[start : start + BATCH], PARAMS, batch_id, str(root / "work"))
        ids.append(batch_id)
    return LocalObjectStore(root / "work"), ids


def _peak(root: Path, loans: int, repeat: int = 2) -> tuple[int, int]:
    """Peak traced bytes of the reduction and the report (the least of ``repeat`` runs:
    the writer thread's timing only ever adds to a peak, while state kept per loan is
    in every run), and the loans simulated."""
    store, ids = _batches(root, loans)
    reduce_run(store, PARAMS, ids, out_dir=root / "warm")  # imports and caches first
    write_report(root / "warm")  # (the report's template is compiled once per process)
    peaks = []
    for i in range(repeat):
        tracemalloc.start()
        try:
            summary = reduce_run(store, PARAMS, ids, out_dir=root / f"out{i}").summary
            write_report(root / f"out{i}")
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
    return min(peaks), int(summary["loans"])


def test_reduce_and_report_peak_does_not_grow_with_loans(
    tmp_path: Path, tiny_buffers: None
) -> None:
    small, small_loans = _peak(tmp_path / "n", SMALL)
    large, large_loans = _peak(tmp_path / "3n", LARGE)
    assert large_loans > 2.5 * small_loans
    assert large - small < PER_BATCH * (LARGE - SMALL) // BATCH, (small, large)


def test_pairwise_sum_holds_one_leaf_whatever_n() -> None:
    n, chunk = 3_000_017, 10_000
    values = np.random.default_rng(1).lognormal(0.0, 2.0, n)
    total = PairwiseSum(n)
    tracemalloc.start()
    try:
        for start in range(0, n, chunk):
            total.add(values[start : start + chunk])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert total.value() == float(values.sum())
    assert peak < 8 * (exact_sum.LEAF + chunk) + 64 * 1024, peak
