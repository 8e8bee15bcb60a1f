"""The report's per-loan figures, read from ``loans.parquet`` a chunk at a time (the file
is sorted by scenario, then key), so the report's memory does not grow with the book.

Counts are exact; the means and sums add each chunk's NumPy sum (they may differ from a
whole-column sum in the last bits, far below what the report prints).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from numpy.typing import NDArray

#: Loan rows read at a time.
CHUNK_ROWS = 1 << 16


class _Scenario:
    """One scenario's running counts and sums."""

    def __init__(self, dti_line: float, dscr_line: float) -> None:
        self.lines = (dti_line, dscr_line)
        self.counts = dict.fromkeys(
            (
                "loans",
                "variable",
                "personal",
                "personal_over_dti",
                "commercial",
                "commercial_under_dscr",
                "crossed",
            ),
            0,
        )
        self.change = 0.0
        self.increase = 0.0
        self.segment_el: dict[tuple[str, str], float] = {}

    def add(self, t: pa.Table) -> None:
        def col(name: str) -> NDArray[Any]:
            return np.asarray(t.column(name).to_numpy(zero_copy_only=False))

        def label(name: str, value: str) -> NDArray[np.bool_]:
            return col_mask(pc.equal(t.column(name), value))

        personal, commercial = label("LoanType", "personal"), label("LoanType", "commercial")
        variable = label("RateType", "variable")
        payment, shocked = col("payment").astype(float), col("shocked_payment").astype(float)
        dti = t.column("dti").fill_null(np.nan).to_numpy().astype(float)
        dscr = t.column("dscr").fill_null(np.nan).to_numpy().astype(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            change = np.where(payment[variable] > 0, shocked[variable] / payment[variable] - 1, 0.0)
        c = self.counts
        c["loans"] += t.num_rows
        c["variable"] += int(variable.sum())
        c["personal"] += int(personal.sum())
        c["personal_over_dti"] += int((dti[personal] > self.lines[0]).sum())
        c["commercial"] += int(commercial.sum())
        c["commercial_under_dscr"] += int((dscr[commercial] < self.lines[1]).sum())
        c["crossed"] += int(col("crossed").astype(bool).sum())
        self.change += float(change.sum())
        self.increase += float((shocked - payment)[variable].sum())
        self._add_segments(t, col("expected_loss").astype(float))

    def _add_segments(self, t: pa.Table, el: NDArray[np.float64]) -> None:
        """Expected loss per (loan type, rate type) present in the chunk."""
        loan_codes, loan_names = _codes(t.column("LoanType"))
        rate_codes, rate_names = _codes(t.column("RateType"))
        width = len(rate_names)
        combined = loan_codes * width + rate_codes
        size = len(loan_names) * width
        counts = np.bincount(combined, minlength=size)
        sums = np.bincount(combined, weights=el, minlength=size)
        for code in np.flatnonzero(counts):
            key = (loan_names[code // width], rate_names[code % width])
            self.segment_el[key] = self.segment_el.get(key, 0.0) + float(sums[code])

    def fields(self) -> dict[str, Any]:
        variable = self.counts["variable"]
        return {
            **self.counts,
            "variable_payment_change": self.change / variable if variable else 0.0,
            "variable_payment_increase": self.increase / variable if variable else 0.0,
            "segment_el": dict(sorted(self.segment_el.items())),
        }


def col_mask(values: pa.ChunkedArray | pa.Array) -> NDArray[np.bool_]:
    """A boolean Arrow column as a NumPy mask (nulls count as false)."""
    return np.asarray(pc.fill_null(values, False).to_numpy(zero_copy_only=False), dtype=bool)


def _codes(labels: pa.ChunkedArray) -> tuple[NDArray[np.intp], list[str]]:
    """Integer codes of a text column and the label of each code (nulls as ``"None"``)."""
    encoded = pc.dictionary_encode(pc.fill_null(labels, "None"))
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    codes = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.intp)
    return codes, [str(v) for v in encoded.dictionary.to_pylist()]


def scan_loans(
    path: Path,
    shocks: Sequence[int],
    columns: Sequence[str],
    *,
    top: int,
    lines: tuple[float, float],
) -> tuple[dict[int, dict[str, Any]], list[dict[str, Any]]]:
    """Per scenario the report's loan figures, and the ``top`` loans by expected loss
    (ties by key) at the largest shock. Raises ``OSError``/``ArrowException``."""
    wanted = {shock: _Scenario(*lines) for shock in shocks}
    largest = max(shocks) if shocks else None
    kept: pa.Table | None = None
    order = [("expected_loss", "descending"), ("key", "ascending")]
    # no pre-buffering: with it, Arrow reads the selected columns of every row group up
    # front, so memory would grow with the file; without it, one row group at a time
    with pq.ParquetFile(path, pre_buffer=False) as file:
        for batch in file.iter_batches(batch_size=CHUNK_ROWS, columns=list(columns)):
            table = pa.Table.from_batches([batch])
            present = pc.unique(table.column("shock_bp")).to_pylist()
            for shock in present:
                if shock not in wanted:
                    continue
                part = (
                    table
                    if len(present) == 1
                    else table.filter(pc.equal(table.column("shock_bp"), shock))
                )
                wanted[shock].add(part)
                if shock == largest:
                    part = _top_candidates(part, top)
                    both = part if kept is None else pa.concat_tables([kept, part])
                    kept = both.take(pc.sort_indices(both, order)[:top])
    rows = kept.to_pylist() if kept is not None and top else []
    return {shock: acc.fields() for shock, acc in wanted.items()}, rows


def _top_candidates(part: pa.Table, top: int) -> pa.Table:
    """The rows of ``part`` that can be among the ``top`` largest expected losses: those
    at or above its ``top``-th largest (ties kept, in their order); all of them when
    there are few or some value is null or NaN (the sort decides those)."""
    column = part.column("expected_loss")
    if top <= 0 or part.num_rows <= top or column.null_count:
        return part
    values = np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64)
    if np.isnan(values).any():
        return part
    cut = part.num_rows - top
    kth = np.partition(values, cut)[cut]
    return part.filter(pa.array(values >= kth))
