"""The report's per-loan figures, read from ``loans.parquet`` a chunk at a time (the file
is sorted by scenario, then key), so the report's memory does not grow with the book;
or taken from the rows as the reduction writes them (:class:`FigureFeed`), so a process
that reduces and then reports never reads the file back.

Counts are exact; the means and sums add, per part (the rows of one scenario within one
chunk of ``CHUNK_ROWS`` rows of the file), the part's NumPy sum. A part's sum depends on
its values only, so :class:`FigureFeed` cuts the rows where the file's chunks are cut
(its rows are the file's, in its order) and its figures are the same bits.
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

#: Per scenario the :class:`LoanStats` fields, and the loans with the largest expected loss.
Figures = tuple[dict[int, dict[str, Any]], list[dict[str, Any]]]
#: A text column as integer codes and the label of each code.
Labels = tuple[NDArray[np.intp], list[str]]
#: Rows' loan types and rate types as codes (:func:`_codes`, or the same from elsewhere).
Coded = tuple[Labels, Labels]


class _Scenario:
    """One scenario's running counts and sums: the rows of a part are added (:meth:`add`,
    in pieces), then summed (:meth:`end_part`)."""

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
        #: Segments by code (the codes of the pending rows).
        self._segments: list[tuple[str, str]] = []
        self._segment_codes: dict[tuple[str, str], int] = {}
        #: The part's values not yet summed: payment changes, increases, codes, losses.
        self._pending: tuple[list[NDArray[Any]], ...] = ([], [], [], [])

    def add(self, t: pa.Table, coded: Coded | None = None) -> None:
        """Rows of the part (``coded``: their loan and rate types' codes, if known)."""

        def col(name: str) -> NDArray[Any]:
            return np.asarray(t.column(name).to_numpy(zero_copy_only=False))

        # the label columns encoded once: a label's rows are those of its code (as
        # ``pc.equal`` with nulls as false: a null's code is that of "None")
        loans, rates = coded or (_codes(t.column("LoanType")), _codes(t.column("RateType")))

        def label(pair: Labels, value: str) -> NDArray[np.bool_]:
            codes, names = pair
            if value not in names:
                return np.zeros(codes.shape[0], dtype=bool)
            return np.asarray(codes == names.index(value), dtype=bool)

        personal, commercial = label(loans, "personal"), label(loans, "commercial")
        variable = label(rates, "variable")
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
        changes, increases, codes, losses = self._pending
        changes.append(change)
        increases.append((shocked - payment)[variable])
        codes.append(self._segment_codes_of(loans, rates))
        losses.append(col("expected_loss").astype(float))

    def _segment_codes_of(self, loans: Labels, rates: Labels) -> NDArray[np.intp]:
        """Each row's (loan type, rate type) as a code of this scenario's."""
        (loan_codes, loan_names), (rate_codes, rate_names) = loans, rates
        width = len(rate_names)
        known = self._segment_codes
        mapping = np.zeros(len(loan_names) * width, dtype=np.intp)
        for i, loan in enumerate(loan_names):
            for k, rate in enumerate(rate_names):
                key = (loan, rate)
                if key not in known:
                    known[key] = len(self._segments)
                    self._segments.append(key)
                mapping[i * width + k] = known[key]
        return np.asarray(mapping[loan_codes * width + rate_codes], dtype=np.intp)

    def end_part(self) -> None:
        """Add the pending rows' sums (NumPy's, over the part's values in row order)."""
        changes, increases, codes, losses = self._pending
        if not codes:
            return
        self.change += float(np.concatenate(changes).sum())
        self.increase += float(np.concatenate(increases).sum())
        # expected loss per (loan type, rate type) present in the part
        combined, el = np.concatenate(codes), np.concatenate(losses)
        size = len(self._segments)
        counts = np.bincount(combined, minlength=size)
        sums = np.bincount(combined, weights=el, minlength=size)
        for code in np.flatnonzero(counts):
            key = self._segments[code]
            self.segment_el[key] = self.segment_el.get(key, 0.0) + float(sums[code])
        for pending in self._pending:
            pending.clear()

    def fields(self) -> dict[str, Any]:
        variable = self.counts["variable"]
        return {
            **self.counts,
            "variable_payment_change": self.change / variable if variable else 0.0,
            "variable_payment_increase": self.increase / variable if variable else 0.0,
            "segment_el": dict(sorted(self.segment_el.items())),
        }


class LoanFigures:
    """The report's loan figures of a stream of parts (rows of one scenario each)."""

    def __init__(self, shocks: Sequence[int], *, top: int, lines: tuple[float, float]) -> None:
        self.wanted = {shock: _Scenario(*lines) for shock in shocks}
        self.largest = max(shocks) if shocks else None
        self.top = top
        self.kept: pa.Table | None = None

    def add(self, shock: int, part: pa.Table, coded: Coded | None = None) -> None:
        """Rows of scenario ``shock`` (of a part; more of it may follow)."""
        if shock not in self.wanted:
            return
        self.wanted[shock].add(part, coded)
        if shock == self.largest:
            order = [("expected_loss", "descending"), ("key", "ascending")]
            part = _top_candidates(part, self.top)
            both = part if self.kept is None else pa.concat_tables([self.kept, part])
            self.kept = both.take(pc.sort_indices(both, order)[: self.top])

    def end_part(self, shock: int) -> None:
        """The part of scenario ``shock`` is complete."""
        if shock in self.wanted:
            self.wanted[shock].end_part()

    def result(self) -> Figures:
        rows = self.kept.to_pylist() if self.kept is not None and self.top else []
        return {shock: acc.fields() for shock, acc in self.wanted.items()}, rows


class FigureFeed:
    """:class:`LoanFigures` of the rows of ``loans.parquet`` as they are written (each
    scenario's in key order, the scenarios in the file's order): cut into parts where
    :func:`scan_loans` cuts the file, so :meth:`result` is the same as its figures."""

    def __init__(
        self,
        shocks: Sequence[int],
        columns: Sequence[str],
        *,
        top: int,
        lines: tuple[float, float],
    ) -> None:
        self.figures = LoanFigures(shocks, top=top, lines=lines)
        self.columns = list(columns)
        self.chunk = CHUNK_ROWS
        self.offset = 0
        self.shock: int | None = None

    def add(self, shock: int, rows: pa.Table, coded: Coded | None = None) -> None:
        """The next rows written to the file, all of scenario ``shock`` (``coded``: their
        loan and rate types as codes, where the caller has them: a null label must be
        coded as ``"None"``, as :func:`_codes` does)."""
        if self.shock is not None and shock != self.shock:
            self.figures.end_part(self.shock)
        self.shock = shock
        table = rows.select(self.columns)
        start = 0
        while start < table.num_rows:
            piece = table.slice(start, self.chunk - self.offset % self.chunk)
            end = start + piece.num_rows
            self.figures.add(shock, piece, _sliced(coded, start, end))
            start += piece.num_rows
            self.offset += piece.num_rows
            if self.offset % self.chunk == 0:
                self.figures.end_part(shock)

    def result(self) -> Figures:
        """The figures of every row added (no more may follow)."""
        if self.shock is not None:
            self.figures.end_part(self.shock)
        return self.figures.result()


def _sliced(coded: Coded | None, start: int, end: int) -> Coded | None:
    if coded is None:
        return None
    (loans, loan_names), (rates, rate_names) = coded
    return (loans[start:end], loan_names), (rates[start:end], rate_names)


def _codes(labels: pa.ChunkedArray) -> Labels:
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
) -> Figures:
    """Per scenario the report's loan figures, and the ``top`` loans by expected loss
    (ties by key) at the largest shock. Raises ``OSError``/``ArrowException``."""
    figures = LoanFigures(shocks, top=top, lines=lines)
    # no pre-buffering: with it, Arrow reads the selected columns of every row group up
    # front, so memory would grow with the file; without it, one row group at a time
    with pq.ParquetFile(path, pre_buffer=False) as file:
        for batch in file.iter_batches(batch_size=CHUNK_ROWS, columns=list(columns)):
            table = pa.Table.from_batches([batch])
            present = pc.unique(table.column("shock_bp")).to_pylist()
            for shock in present:
                if shock not in figures.wanted:
                    continue
                part = (
                    table
                    if len(present) == 1
                    else table.filter(pc.equal(table.column("shock_bp"), shock))
                )
                figures.add(shock, part)
                figures.end_part(shock)
    return figures.result()


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
