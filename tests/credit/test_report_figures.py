"""The report's per-loan figures taken from the reduction as it writes ``loans.parquet``
(issue 13: the report need not read the file back) are the same bits as those scanned
from the file, and the report built from either is the same page."""

from __future__ import annotations

import dataclasses
import datetime as dt
import tracemalloc
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from montemap.cli import main
from montemap.credit import reduce_merge, report_inputs, report_loans
from montemap.credit.batch import process_batch
from montemap.credit.generator import generate
from montemap.credit.params import RunParams
from montemap.credit.portfolio import local_destination
from montemap.credit.reduce import reduce_run
from montemap.credit.report import write_report
from montemap.credit.report_inputs import TOP_LOANS, loan_stats
from montemap.credit.report_loans import Figures, scan_loans
from montemap.credit.simulate import inventory_items
from montemap.storage import LocalObjectStore
from tests.credit.test_reduce_parts import _run_outputs

AS_OF = dt.date(2026, 11, 27)
#: Scenarios out of ascending order: the file holds them in this order.
PARAMS = RunParams(
    output_bucket="res", output_prefix="run", paths=200, seed=7, as_of=AS_OF,
    shocks_bp=(150, 0, 300),
)  # fmt: skip


def _reduced(root: Path, loans: int) -> tuple[Path, Figures]:
    """A generated portfolio simulated in batches and reduced with the report's figures."""
    generate(local_destination(root / "data"), loans, seed=3, as_of=AS_OF)
    source = LocalObjectStore(root / "data" / "buckets")
    work = LocalObjectStore(root / "work")
    items = inventory_items(source)
    ids = []
    for start in range(0, len(items), 130):
        event = {"Items": items[start : start + 130], "BatchInput": PARAMS.to_batch_input()}
        ids.append(process_batch(event, source, work)["batch_id"])
    out = root / "out"
    outputs = reduce_run(work, PARAMS, ids, out_dir=out, report_figures=True)
    assert outputs.loan_figures is not None
    return out, outputs.loan_figures


def _scanned(out: Path) -> Figures:
    return scan_loans(
        out / "loans.parquet",
        sorted(PARAMS.shocks_bp),
        report_inputs._LOAN_COLUMNS,
        top=TOP_LOANS,
        lines=(report_inputs.DTI_LINE, report_inputs.DSCR_LINE),
    )


def _page(out: Path, figures: Figures | None) -> bytes:
    write_report(out, figures)
    return (out / "report.html").read_bytes()


@pytest.mark.parametrize("small", [False, True], ids=["default-chunks", "small-chunks"])
def test_reduction_figures_are_the_scanned_figures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small: bool
) -> None:
    if small:  # the report's chunks cut the reduction's chunks and the scenarios
        monkeypatch.setattr(reduce_merge, "CHUNK_ROWS", 64)
        monkeypatch.setattr(report_loans, "CHUNK_ROWS", 97)
    out, figures = _reduced(tmp_path, 1200)
    per_scenario, top = figures
    assert per_scenario == _scanned(out)[0]
    assert top == _scanned(out)[1]
    assert set(per_scenario) == set(PARAMS.shocks_bp)
    loans = per_scenario[300]["loans"]
    assert loans > 1000 and all(f["loans"] == loans for f in per_scenario.values())
    assert per_scenario[300]["variable"] and per_scenario[300]["segment_el"]
    assert len(top) == TOP_LOANS and all(row["shock_bp"] == 300 for row in top)
    assert [r["expected_loss"] for r in top] == sorted(r["expected_loss"] for r in top)[::-1]
    assert _page(out, figures) == _page(out, None)


def test_figures_of_other_scenarios_are_not_used(tmp_path: Path) -> None:
    out, (per_scenario, top) = _reduced(tmp_path, 300)
    path, shocks = out / "loans.parquet", sorted(PARAMS.shocks_bp)
    wrong = {shock: {**f, "loans": -1} for shock, f in per_scenario.items() if shock != 0}
    assert loan_stats(path, shocks, (wrong, top)) == loan_stats(path, shocks)
    given = loan_stats(path, shocks, (per_scenario, top))
    assert given == loan_stats(path, shocks)
    assert list(given[0]) == shocks  # in the summary's order, as scanned


def test_simulate_and_the_function_report_without_reading_the_loans_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_scan(*args: object, **kwargs: object) -> Figures:
        raise AssertionError("loans.parquet was read back")

    generate(local_destination(tmp_path / "data"), 300, seed=5, as_of=AS_OF)
    out = tmp_path / "run"
    argv = ["simulate", "--data-dir", str(tmp_path / "data"), "--out", str(out)]
    argv += ["--paths", "200", "--workers", "1", "--as-of", "2026-11-27"]
    from montemap.workflows.functions import reduce_and_report

    event, _ = _run_outputs(tmp_path / "fn", "r1")
    monkeypatch.setenv("MONTEMAP_DATA_DIR", str(tmp_path / "fn"))
    with monkeypatch.context() as patched:
        patched.setattr(report_inputs, "scan_loans", no_scan)
        assert main(argv) == 0
        assert reduce_and_report(event)["report"]
    local = tmp_path / "fn" / "runs" / "r1"
    for folder in (out, local):
        html = (folder / "report.html").read_bytes()
        assert _page(folder, None) == html  # scanned now


def test_figures_are_asked_for(tmp_path: Path) -> None:
    """Without ``report_figures`` the reduction computes none (the workflow's own
    reduction, which makes no report, pays nothing for them)."""
    generate(local_destination(tmp_path / "data"), 50, seed=2, as_of=AS_OF)
    source = LocalObjectStore(tmp_path / "data" / "buckets")
    work = LocalObjectStore(tmp_path / "work")
    params = dataclasses.replace(PARAMS, shocks_bp=(0,))
    event = {"Items": inventory_items(source), "BatchInput": params.to_batch_input()}
    ids = [process_batch(event, source, work)["batch_id"]]
    assert reduce_run(work, params, ids, out_dir=tmp_path / "out").loan_figures is None


def _feed_peak(table: pa.Table, times: int) -> int:
    """Peak traced bytes of a :class:`FigureFeed` fed ``table``'s rows ``times`` over, in
    chunks of 50 rows."""
    shocks = sorted(set(table.column("shock_bp").to_pylist()))
    tracemalloc.start()
    try:
        feed = report_inputs.figure_feed(shocks)
        for _ in range(times):
            for start in range(0, table.num_rows, 50):
                chunk = table.slice(start, 50)
                feed.add(int(chunk.column("shock_bp")[0].as_py()), chunk)
        feed.result()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_the_feed_holds_one_chunk_of_values_at_most(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever the number of rows, the feed holds a file chunk's values at most."""
    out, _ = _reduced(tmp_path, 300)
    table = pq.read_table(out / "loans.parquet")
    monkeypatch.setattr(report_loans, "CHUNK_ROWS", 128)
    _feed_peak(table, 1)  # the first use's imports and caches
    once, four_times = _feed_peak(table, 1), _feed_peak(table, 4)
    # the rows are ~900 a pass: one entry a row for 2,700 more rows would be 21 KB or more
    assert four_times - once < 8 * 1024, (once, four_times)
