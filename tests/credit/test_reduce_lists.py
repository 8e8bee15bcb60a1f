"""``rejects.csv`` and ``matured.csv`` are merged in key order without holding the
records of every batch a straddling batch's key range spans (``reduce_files.write_lists``)."""

from __future__ import annotations

import csv
import datetime as dt
import json
import tracemalloc
from pathlib import Path

from montemap.credit.params import RunParams
from montemap.credit.reduce_files import MATURED_COLUMNS, RunFiles, write_lists
from montemap.credit.reduce_scan import BatchInfo
from montemap.storage import LocalObjectStore

PARAMS = RunParams(
    output_bucket="res", output_prefix="run", paths=10, seed=1, as_of=dt.date(2026, 11, 27),
    shocks_bp=(0,),
)  # fmt: skip


def _book(root: Path, batches: int, per_batch: int) -> tuple[LocalObjectStore, list[BatchInfo]]:
    """Batch 0 straddles everything (its keys are the very first and the very last);
    the others hold consecutive key ranges, each with rejects and matured loans (listed
    in reverse: the tests put them in the reduction's order, :func:`_in_key_order`)."""
    store = LocalObjectStore(root)
    store.create_bucket("res")
    infos = []
    for b in range(batches):
        if b == 0:
            keys = ["k-00000-000", "k-99999-999"]
        else:
            keys = [f"k-{b:05d}-{i:03d}" for i in range(per_batch)]
        meta = {
            "rejects": [{"key": k, "reason": f"bad {k[-1]}"} for k in keys[::2]],
            "matured_loans": [
                {"key": k, "AccountID": f"A{k}", "OriginationDate": "2001-01-01", "LoanTerm": 60}
                for k in keys[1::2]
            ],
        }
        batch_id = f"b{b:05d}"
        store.put("res", PARAMS.batch_key(batch_id, "batch.json"), json.dumps(meta).encode())
        infos.append(BatchInfo(batch_id, b, [0], 0, min(keys), max(keys)))
    return store, infos[::-1]


def _in_key_order(infos: list[BatchInfo]) -> list[BatchInfo]:
    """The batches as the reduction gives them: by smallest key, then position."""
    return sorted(infos, key=lambda b: (b.low or "", b.position))


def _rows(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def test_lists_are_in_key_order_across_a_straddling_batch(tmp_path: Path) -> None:
    store, infos = _book(tmp_path / "store", batches=30, per_batch=20)
    out = tmp_path / "out"
    out.mkdir()
    write_lists(store, PARAMS, _in_key_order(infos), RunFiles(out))
    rejects = _rows(out / "rejects.csv.partial")
    matured = _rows(out / "matured.csv.partial")
    assert rejects[0] == ["key", "reason"] and matured[0] == list(MATURED_COLUMNS)
    assert [r[0] for r in rejects[1:]] == sorted(r[0] for r in rejects[1:])
    assert [r[0] for r in matured[1:]] == sorted(r[0] for r in matured[1:])
    assert len(rejects) - 1 == 1 + 29 * 10 and len(matured) - 1 == 1 + 29 * 10
    assert rejects[1][0] == "k-00000-000" and matured[-1][0] == "k-99999-999"


def test_memory_does_not_grow_with_the_batches_a_straddler_spans(tmp_path: Path) -> None:
    def peak(batches: int) -> int:
        store, infos = _book(tmp_path / f"s{batches}", batches=batches, per_batch=40)
        out = tmp_path / f"o{batches}"
        out.mkdir()
        tracemalloc.start()
        try:
            write_lists(store, PARAMS, _in_key_order(infos), RunFiles(out))
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small, large = peak(20), peak(200)
    # Holding every record (the old group-by-group lists) grows tenfold with the batches.
    assert large < 2 * small, (small, large)


def test_a_key_a_spreadsheet_would_run_is_written_as_text(tmp_path: Path) -> None:
    """OWASP's CSV injection: a cell beginning with ``= + - @``, a tab or a carriage
    return is a formula to Excel or LibreOffice (``=cmd|' /C calc'!A0`` starts a program
    on some); the lists write such cells with a leading apostrophe, and every other cell
    as it is. A carriage return inside a key stays inside its row."""
    store = LocalObjectStore(tmp_path / "store")
    store.create_bucket("res")
    evil = ["=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(1+1)", "\tx", "\ry"]
    keys = sorted([*evil, "loans/0001.csv", "a=b", "x-1", "k\rmid"])
    meta = {
        "rejects": [{"key": k, "reason": "column 'LoanAmount': 'x' is not a number"} for k in keys],
        "matured_loans": [
            {"key": k, "AccountID": "17", "OriginationDate": "2001-01-01", "LoanTerm": 60}
            for k in keys
        ],
    }
    store.put("res", PARAMS.batch_key("b0", "batch.json"), json.dumps(meta).encode())
    out = tmp_path / "out"
    out.mkdir()
    write_lists(store, PARAMS, [BatchInfo("b0", 0, [0], 0, keys[0], keys[-1])], RunFiles(out))
    expected = ["'" + k if k in evil else k for k in keys]
    rejects, matured = _rows(out / "rejects.csv.partial"), _rows(out / "matured.csv.partial")
    assert [r[0] for r in rejects[1:]] == expected
    assert [r[0] for r in matured[1:]] == expected
    assert {r[1] for r in rejects[1:]} == {"column 'LoanAmount': 'x' is not a number"}
    assert {tuple(r[1:]) for r in matured[1:]} == {("17", "2001-01-01", "60")}
