"""The reduction and the report hold bounded state, never one entry per loan (issue 13).

Memory that is flat in the number of loans cannot be timed in CI, but its cause can be
tested: with every chunk, leaf and slice size made tiny (so the bounded buffers fill
with a few thousand loans), the same portfolio at N and 3N loans must reach the same
peak of Python memory (tracemalloc: NumPy arrays and Python objects), up to a small
allowance for the per-batch state (a few numbers a batch). N is past the size where the
bounded buffers are full (at 800 loans they are not: from 800 to 3,200 the peak still
rises by ~90 KB, then by ~7 bytes a loan, the per-batch state). What the reduction keeps
per batch is measured on its own too: the same loans in four times the batches.
"""

from __future__ import annotations

import datetime as dt
import tracemalloc
from pathlib import Path

import numpy as np
import pyarrow as pa
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
from montemap.credit.reduce_scan import (
    AccountSpill,
    id_array,
    key_groups,
    open_spill_dir,
    scan_batches,
)
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
#: Growth allowed per extra batch (slack for the row groups of the output files and for
#: noise): 131 KB over the 6,400 extra loans, where a Python list with one entry a loan
#: (a float or a key each) would take 200 KB or more.
PER_BATCH = 4096
SMALL, LARGE = 3200, 9600
#: The same loans in few and in many batches (for the state kept per batch).
LOANS, FEW, MANY = 800, 100, 800
#: Slack for what the reading threads and the JSON decoder leave behind (measured:
#: 10-20 KB), well below what one Python object a batch adds over 700 batches (35 KB
#: for a bare int in a list, ~50 KB for a key or an id, ~400 KB for a BatchInfo).
NOISE = 48 * 1024


@pytest.fixture
def tiny_buffers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reduce_merge, "CHUNK_ROWS", 64)
    monkeypatch.setattr(exact_sum, "LEAF", 128)
    monkeypatch.setattr(contributions, "slice_rows", lambda centres: 37)
    monkeypatch.setattr(reduce_loans, "slice_rows", lambda centres: 37)
    monkeypatch.setattr(reduce_loans, "_GROUP_ROWS", 64)
    monkeypatch.setattr(reduce_scan, "PARTITION_LOANS", 256)
    monkeypatch.setattr(report_loans, "CHUNK_ROWS", 64)
    monkeypatch.setattr(reduce_scan, "_STEP", 16)


def _batches(root: Path, loans: int, size: int = BATCH) -> tuple[LocalObjectStore, list[str]]:
    """Batches of ``size`` of ``loans`` varied loans, keys in order (as a generated
    portfolio's), from a handful of ZIP codes: every breakdown then has the same groups
    at both sizes."""
    zips = ("02134", "10001", "60601", "73301", "94105")
    rows = portfolio(loans, seed=2)
    records = [
        (f"data/loan-{i:07d}.csv", {**row, "ZipCode": zips[i % len(zips)]})
        for i, row in enumerate(rows)
    ]
    ids = []
    for start in range(0, loans, size):
        batch_id = f"b-{start:07d}"
        _run_tape_batch(records[start : start + size], PARAMS, batch_id, str(root / "work"))
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


@pytest.fixture(scope="module")
def books(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[int, tuple[LocalObjectStore, list[str]]]:
    """The same ``LOANS`` loans in ``FEW`` and in ``MANY`` batches."""
    root = tmp_path_factory.mktemp("books")
    return {n: _batches(root / str(n), LOANS, LOANS // n) for n in (FEW, MANY)}


def _held_by_first_pass(store: LocalObjectStore, ids: list[str]) -> int:
    """Bytes the first pass keeps (Python objects, NumPy and Arrow buffers) for the
    batches ``ids``, once the batches are read and their groups walked."""
    with open_spill_dir() as scratch:
        spill = AccountSpill(Path(scratch), len(ids))
        scan_batches(store, PARAMS, id_array(ids[:3]), spill)  # imports and caches first
        tracemalloc.start()
        arrow = pa.total_allocated_bytes()
        try:
            scan = scan_batches(store, PARAMS, id_array(ids), spill)
            spill.close()
            assert sum(g.shape[0] for g in key_groups(scan.batches)) == len(ids)
            held: int = tracemalloc.get_traced_memory()[0] + pa.total_allocated_bytes() - arrow
        finally:
            tracemalloc.stop()
    assert scan.loans == LOANS
    return held


def test_first_pass_keeps_a_few_numbers_a_batch(
    books: dict[int, tuple[LocalObjectStore, list[str]]],
) -> None:
    few, many = _held_by_first_pass(*books[FEW]), _held_by_first_pass(*books[MANY])
    # per batch: rows per scenario, distinct keys and the place in the key order (8 bytes
    # each), the id and the key range's two keys (their bytes and a 4-byte offset each)
    # and nothing else (measured ~105 bytes; a BatchInfo a batch took ~560 more)
    numbers = 8 * (len(PARAMS.shocks_bp) + 2)
    text = len("b-0000000") + 2 * len("data/loan-0000000.csv") + 3 * 4
    assert many - few <= (numbers + text) * (MANY - FEW) + NOISE, (few, many)


def _reduce_peak(store: LocalObjectStore, ids: list[str], root: Path, repeat: int = 2) -> int:
    """Peak traced bytes of the reduction of the batches ``ids`` (the least of ``repeat``
    runs, as in :func:`_peak`)."""
    reduce_run(store, PARAMS, ids[:3], out_dir=root / "warm")
    peaks = []
    for i in range(repeat):
        tracemalloc.start()
        try:
            reduce_run(store, PARAMS, ids, out_dir=root / f"out{i}")
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
    return min(peaks)


def test_reduction_peak_does_not_grow_with_the_batches(
    tmp_path: Path,
    tiny_buffers: None,
    books: dict[int, tuple[LocalObjectStore, list[str]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # chunks of 8 rows: the row groups are the same, and a chunk joins at most 8 batches'
    # pieces whatever the batches (with 64, the 1-loan batches' chunks held 64 pieces)
    monkeypatch.setattr(reduce_merge, "CHUNK_ROWS", 8)
    few = _reduce_peak(*books[FEW], tmp_path / "few")
    many = _reduce_peak(*books[MANY], tmp_path / "many")
    # the same loans and row groups: only what is kept per batch differs (~35-55 bytes of
    # NumPy arrays a batch, measured; a BatchInfo a batch took ~600, with the spill's
    # open files ~7,600: these tiny partitions made one a batch)
    assert many - few < 40 * (MANY - FEW) + NOISE, (few, many)


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
